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

#: Bounds of the default ``BLOCK_BYTES`` (see ``block_bytes_for``).
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 1 << 20, 4 << 20


def block_bytes_for(cache_bytes):
    """Default bytes of the [rows, K] float64 buffer of one row block of the
    EM pass (``fastem._kernels.blocked``), given the data caches per CPU,
    ``{level: bytes}`` (see ``cache_bytes_per_cpu``; empty when unknown).

    Half the L2 where that holds at least ``MIN_BLOCK_BYTES``: the buffer and
    the table rows streaming past stay in L2 (1 MiB was fastest on Intel
    Xeon cores with 2 MiB of L2, measured 256 KiB - 2 MiB at K = 2, 20, 100).
    Otherwise the buffer lives in the last level, and takes a quarter of its
    share per CPU, within ``[MIN_BLOCK_BYTES, MAX_BLOCK_BYTES]``: a larger
    block means fewer blocks, and each block streams the word tables past
    once (at K = 20 on the benchmark corpus, 16 blocks of 6,250 rows read and
    write 474 MB of table rows per pass, 4 blocks of 25,000 rows 178 MB,
    against 54 MB of entries). On a 2-CPU AMD EPYC (Zen 3) with 512 KiB of
    L2 and a 32 MiB L3, passes were fastest with 4 MiB buffers (K = 20, 50,
    100: 1.2, 1.45 and 1.45 times faster than with 1 MiB; 8 MiB was slower
    again). On many-core machines the share per CPU is smaller, and so are
    the blocks.
    """
    if not cache_bytes:
        return MAX_BLOCK_BYTES
    l2 = cache_bytes.get(2, 0)
    share = l2 // 2 if l2 >= 2 * MIN_BLOCK_BYTES else cache_bytes[max(cache_bytes)] // 4
    return int(min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, share)))


def _count_cpus(cpu_list):
    """Number of CPUs in a Linux CPU list such as ``"0-3,8,10-11"``."""
    count = 0
    for part in cpu_list.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            count += int(hi or lo) - int(lo) + 1
    return count


def _cache_size(text):
    """Bytes of a sysfs cache size such as ``"32768K"``."""
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def cache_bytes_per_cpu(cache_dir="/sys/devices/system/cpu/cpu0/cache"):
    """``{level: bytes}`` of CPU 0's data (and unified) caches, each divided
    by the number of CPUs that share it, read from Linux's sysfs; empty where
    that cannot be read."""
    levels = {}
    try:
        for name in os.listdir(cache_dir):
            if not name.startswith("index"):
                continue
            fields = {}
            for field in ("type", "level", "size", "shared_cpu_list"):
                with open(os.path.join(cache_dir, name, field)) as f:
                    fields[field] = f.read().strip()
            if fields["type"] != "Instruction":
                levels[int(fields["level"])] = (_cache_size(fields["size"])
                                                // max(1, _count_cpus(fields["shared_cpu_list"])))
    except (OSError, ValueError):
        return {}
    return levels


#: Bytes of the [rows, K] float64 buffer of one row block of the EM pass:
#: ``block_bytes_for(cache_bytes_per_cpu())`` unless FASTEM_BLOCK_BYTES is set.
BLOCK_BYTES = (int(os.environ.get("FASTEM_BLOCK_BYTES", 0))
               or block_bytes_for(cache_bytes_per_cpu()))

#: Bytes of the [n_hot, K] float64 rows of the *hot* words (the most
#: frequent) that the EM pass reads row by row instead of by column runs
#: (see ``fastem._kernels.blocked``), unless FASTEM_HOT_TABLE_BYTES is set.
#: Measured on the benchmark corpus, 2 threads, AMD EPYC Zen 4 (1 MiB L2),
#: pass time in turns against none hot: 40 / 80 / 160 / 320 KiB took
#: K=5 -11 / -15 / -20 / -12%, K=20 -15 / -10 / -9 / -12%, K=50 -3 / -8 /
#: -5 / -10%, K=100 -3 / -4 / -2 / -3%.
HOT_TABLE_BYTES = int(os.environ.get("FASTEM_HOT_TABLE_BYTES", 80 << 10))

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
