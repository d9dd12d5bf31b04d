"""M-step kernel of the models whose components are multinomials over words."""
import math

import numpy as np
from numba import njit, prange

from .._config import PARALLEL_JIT

#: rows of the [n_features, K] table are summed in this many fixed blocks, so
#: the column totals do not depend on the thread count
_N_BLOCKS = 16


@njit(**PARALLEL_JIT)
def smoothed_log_prob(counts, alpha, out):
    """``out[w, k] = log(counts[w, k] + alpha) - log(sum_v (counts[v, k] + alpha))``.

    A column whose smoothed total is 0 (no mass and ``alpha == 0``) gets the
    uniform ``-log(n_features)``. ``out`` may be ``counts`` itself.
    """
    n_features, n_components = counts.shape
    partial = np.zeros((_N_BLOCKS, n_components))
    for b in prange(_N_BLOCKS):
        for w in range(b * n_features // _N_BLOCKS, (b + 1) * n_features // _N_BLOCKS):
            for k in range(n_components):
                partial[b, k] += counts[w, k]
    log_total = np.empty(n_components)
    empty = np.zeros(n_components, dtype=np.bool_)
    for k in range(n_components):
        total = alpha * n_features
        for b in range(_N_BLOCKS):
            total += partial[b, k]
        empty[k] = total == 0.0
        log_total[k] = math.log(total) if total > 0.0 else 0.0
    uniform = -math.log(n_features)
    for w in prange(n_features):
        for k in range(n_components):
            value = counts[w, k] + alpha
            if empty[k]:
                out[w, k] = uniform
            elif value > 0.0:
                out[w, k] = math.log(value) - log_total[k]
            else:
                out[w, k] = -np.inf
