"""Numerical policy shared by every kernel: the one fastmath set, JIT options,
thread-count control and the dtype policy.

Kernels import their decorator options from here and never spell ``fastmath=``
themselves, so the whole library changes floating-point policy in one place.
"""
from contextlib import contextmanager
import os

import numba
import numpy as np

# LLVM fast-math flags. ``nnan`` and ``ninf`` are left out on purpose: the
# log-space code relies on -inf surviving (log 0, empty classes), and on
# comparisons with -inf being honoured. ``afn`` (approximate exp/log) is left
# out too so that results match SciPy/scikit-learn to ~1e-12. ``reassoc`` and
# ``contract`` let LLVM vectorise the loops over components.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

#: options for serial kernels and the row helpers they share
JIT = dict(nogil=True, cache=True, fastmath=set(FASTMATH))
#: options for kernels that split rows over threads
PARALLEL_JIT = dict(JIT, parallel=True)

#: Bytes of the [rows, K] float64 buffer of one row block of the EM pass
#: (``fastem._kernels.blocked``): about half of a core's L2 cache, so the
#: buffer and the table rows streaming past stay there. 1 MiB was fastest on
#: 2 MiB L2 cores (measured 256 KiB - 2 MiB at K = 2, 20, 100). Set
#: FASTEM_BLOCK_BYTES to change it.
BLOCK_BYTES = int(os.environ.get("FASTEM_BLOCK_BYTES", 1 << 20))

#: dtype of model parameters and accumulators. Input data may be float32 or
#: float64; sums are always carried in float64.
PARAM_DTYPE = np.float64


def max_threads():
    """Number of threads Numba was started with (``NUMBA_NUM_THREADS``)."""
    return numba.config.NUMBA_NUM_THREADS


def resolve_n_jobs(n_jobs):
    """Translate a scikit-learn style ``n_jobs`` into a Numba thread count.

    ``None`` keeps the current count, positive values are capped at the number
    of threads Numba was started with, and negative values count back from it
    (``-1`` = all threads), as joblib does.
    """
    if n_jobs is None:
        return numba.get_num_threads()
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use a positive number of threads, "
                         "-1 for all, or None.")
    limit = max_threads()
    if n_jobs < 0:
        n_jobs = limit + 1 + n_jobs
    return int(min(max(n_jobs, 1), limit))


@contextmanager
def threads(n_jobs):
    """Run the body with Numba's thread count set from ``n_jobs``, then restore it."""
    previous = numba.get_num_threads()
    numba.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)
