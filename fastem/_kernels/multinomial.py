"""M-step kernel of the models whose components are multinomials over words."""
import numpy as np
from numba import njit, prange

from .._config import PARALLEL_JIT
from ._intrinsics import vlog

#: rows of the stored [n_rows, K] table are summed in this many fixed blocks, so
#: the sums do not depend on the thread count
_N_BLOCKS = 16


@njit(**PARALLEL_JIT)
def smoothed_log_prob(counts, alpha, out, n_features):
    """``out[w, k] = log(counts[w, k] + alpha) - log(sum_v (counts[v, k] + alpha))``
    over a vocabulary of ``n_features`` words, of which ``counts`` [n_rows, K]
    holds ``n_rows <= n_features``: the other words have no counts (a fit on
    the words that occur, see ``fastem._multinomial.Vocabulary``).

    A column whose smoothed total is 0 (no mass and ``alpha == 0``) gets the
    uniform ``-log(n_features)``. ``counts`` may be C- or F-ordered (a
    transposed [K, n_rows] table); ``out`` is [n_rows, K], float64 or
    float32, and may be ``counts`` itself.

    Returns ``(sum_{counts > 0} counts * out, sum out)``: what the objective
    needs (the complete-data log-likelihood of a hard assignment, and the
    Dirichlet log-prior), without another pass over the table; both are
    float64 sums of the values as stored in ``out``, the second over all
    ``n_features`` words (a word without counts adds the values of a row
    without counts). A zero count contributes 0 to the first sum even where
    ``out`` is -inf.
    """
    n_rows, n_components = counts.shape
    partial = np.zeros((_N_BLOCKS, n_components))
    for b in prange(_N_BLOCKS):
        acc = np.zeros(n_components)  # thread-local: rows of `partial` share cache lines
        for w in range(b * n_rows // _N_BLOCKS, (b + 1) * n_rows // _N_BLOCKS):
            for k in range(n_components):
                acc[k] += counts[w, k]
        partial[b] = acc
    log_total = np.empty(n_components)
    empty = np.zeros(n_components, dtype=np.bool_)
    for k in range(n_components):
        total = alpha * n_features
        for b in range(_N_BLOCKS):
            total += partial[b, k]
        empty[k] = total == 0.0
        log_total[k] = vlog(total) if total > 0.0 else 0.0
    uniform = -vlog(np.float64(n_features))
    # a word with no count at all (most of a hashed vocabulary, a third of a
    # small corpus's) gets the same row: its values, as stored, made once
    unseen = np.empty(n_components, dtype=out.dtype)
    log_alpha = vlog(np.float64(alpha))
    for k in range(n_components):
        unseen[k] = uniform if empty[k] else log_alpha - log_total[k]
    # the two sums are kept per component (one accumulator per k, so the loop
    # over k vectorises: a single running float sum would chain every value
    # through one add and keep vlog scalar), then added in a fixed order
    sums = np.zeros((_N_BLOCKS, 2, n_components))
    for b in prange(_N_BLOCKS):
        dot = np.zeros(n_components)
        total = np.zeros(n_components)
        for w in range(b * n_rows // _N_BLOCKS, (b + 1) * n_rows // _N_BLOCKS):
            seen = False
            for k in range(n_components):
                seen |= counts[w, k] != 0.0
            if not seen:
                for k in range(n_components):
                    out[w, k] = unseen[k]
                    total[k] += unseen[k]
                continue
            for k in range(n_components):
                count = counts[w, k]
                # vlog(0) = -inf: a word never counted under alpha = 0
                value = vlog(count + alpha) - log_total[k]
                out[w, k] = uniform if empty[k] else value
                value = out[w, k]  # as stored: a float32 table rounds it
                total[k] += value
                dot[k] += count * value if count > 0.0 else 0.0
        sums[b, 0] = dot
        sums[b, 1] = total
    dot = 0.0
    total = 0.0
    for b in range(_N_BLOCKS):
        for k in range(n_components):
            dot += sums[b, 0, k]
            total += sums[b, 1, k]
    unseen_sum = np.float64(0.0)  # (a float32 table: without JIT, 0.0 + float32 is float32)
    for k in range(n_components):
        unseen_sum += unseen[k]
    if n_features > n_rows:  # the words not stored
        total += (n_features - n_rows) * unseen_sum
    return dot, total


@njit(**PARALLEL_JIT)
def gather_rows(table, rows, out):
    """``out[w] = table[rows[w]]`` for every row ``w`` of the 2-D ``out``
    (``rows`` must index ``table``'s rows): ``np.take(table, rows, axis=0)``
    in parallel chunks of rows (a [2^22, 20] table: 70 ms against 135)."""
    n_out, n_components = out.shape
    for b in prange(_N_BLOCKS):
        for w in range(b * n_out // _N_BLOCKS, (b + 1) * n_out // _N_BLOCKS):
            r = rows[w]
            for k in range(n_components):
                out[w, k] = table[r, k]
