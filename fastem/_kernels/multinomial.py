"""M-step kernel of the models whose components are multinomials over words."""
import numpy as np
from numba import njit, prange

from .._config import PARALLEL_JIT
from ._intrinsics import _TINY, vlog, vlog_normal

#: rows of the stored [n_rows, K] table are summed in this many fixed blocks, so
#: the sums do not depend on the thread count
_N_BLOCKS = 16
#: values ``smoothed_log_prob`` works on at a time (they stay in L1). Its
#: loops run over slices of a block, from 0 (a range that starts at the
#: block's first row wraps indices: see ``csr``'s module docstring), and all
#: but the copy of a transposed table's counts run flat over the chunk's
#: values (a loop over K = 20 per row leaves 4 of them to scalar code).
#: Measured on [100000, 20], 1 thread: 8.0-10.7 -> 6.5-6.9 ms with the logs
#: flat; an F-ordered (transposed) table 25.5 -> 8.3 ms; then with the rest
#: flat too (AMD Zen 5, AVX-512), 1 thread 5.1 -> 3.0-3.2 ms, 2 threads
#: 3.6-4.6 -> 1.5-2.3 ms. Then with a C-ordered table's counts read in place
#: (not copied) and ``vlog_normal`` where it applies (AMD Zen 5, 2 threads,
#: in turns in one process, best of 40, the expected counts of the ``fastem
#: bench --scaling`` corpora, K = 20): [76595, 20] (1M non-zeros) 1.18 ->
#: 0.68 ms, [100000, 20] (10M) 1.22 -> 0.79 ms, the values bitwise the same
#: (the two sums returned differ in their last bits: the loop is vectorised
#: differently)
_VALUES_PER_CHUNK = 2048


@njit(**PARALLEL_JIT)
def smoothed_log_prob(counts, alpha, out, n_features):
    """``out[w, k] = log(counts[w, k] + alpha) - log(sum_v (counts[v, k] + alpha))``
    over a vocabulary of ``n_features`` words, of which ``counts`` [n_rows, K]
    holds ``n_rows <= n_features``: the other words have no counts (a fit on
    the words that occur, see ``fastem._multinomial.Vocabulary``).

    A column whose smoothed total is 0 (no mass and ``alpha == 0``) gets the
    uniform ``-log(n_features)``. Counts are expected counts, none negative:
    with a negative or NaN count, a value whose count + alpha is negative is
    NaN, and so is every value of a column whose total is negative or NaN.
    ``counts`` must be C- or F-contiguous (F: a transposed [K, n_rows]
    table); ``out`` is a C-contiguous [n_rows, K], float64 or float32, and
    may be ``counts`` itself.

    Returns ``(sum_{counts > 0} counts * out, sum out)``: what the objective
    needs (the complete-data log-likelihood of a hard assignment, and the
    Dirichlet log-prior), without another pass over the table; both are
    float64 sums, in a fixed order, of the values as stored in ``out``, the
    second over all ``n_features`` words (a word without counts adds the
    values of a row without counts). A zero count contributes 0 to the first
    sum even where ``out`` is -inf.
    """
    n_rows, n_components = counts.shape
    partial = np.zeros((_N_BLOCKS, n_components))
    # negative counts, by block and column (counted: a min and a max per value cost 4 times more)
    negatives = np.zeros((_N_BLOCKS, n_components))
    for b in prange(_N_BLOCKS):
        block = counts[b * n_rows // _N_BLOCKS:(b + 1) * n_rows // _N_BLOCKS]
        acc = np.zeros(n_components)  # thread-local: rows of `partial` share cache lines
        below = np.zeros(n_components)
        for w in range(block.shape[0]):
            for k in range(n_components):
                count = block[w, k]
                acc[k] += count
                below[k] += 1.0 if count < 0.0 else 0.0
        partial[b] = acc
        negatives[b] = below
    log_total = np.empty(n_components)
    empty = np.zeros(n_components, dtype=np.bool_)
    # whether every count + alpha is a positive, normal, finite number, as
    # when alpha is (and is normal) and the counts are expected counts: no
    # count is negative and every column's smoothed total, which is at least
    # each of its counts + alpha, is finite. Their logs then need no special
    # cases (``vlog_normal``)
    normal = alpha >= _TINY
    for k in range(n_components):
        total = alpha * n_features
        for b in range(_N_BLOCKS):
            total += partial[b, k]
            normal = normal and negatives[b, k] == 0.0
        empty[k] = total == 0.0
        normal = normal and total < np.inf  # (False for NaN)
        log_total[k] = 0.0 if empty[k] else vlog(total)  # (NaN for a NaN or negative total)
    uniform = -vlog(np.float64(n_features))
    # a chunk of rows is taken as one flat run of values, so that every loop
    # over it vectorises whatever K is: what each value needs of its column
    # is tiled over a chunk once
    chunk_rows = max(1, _VALUES_PER_CHUNK // max(1, n_components))
    size = chunk_rows * n_components
    shift = np.empty(size)
    is_empty = np.empty(size, dtype=np.bool_)
    for i in range(size):
        shift[i] = log_total[i % n_components]
        is_empty[i] = empty[i % n_components]
    flat_out = out.reshape(-1)
    sums = np.zeros((_N_BLOCKS, 2))
    for b in prange(_N_BLOCKS):
        w0 = b * n_rows // _N_BLOCKS
        w1 = (b + 1) * n_rows // _N_BLOCKS
        raw = np.empty(size)
        dot = np.float64(0.0)  # (a float32 table: without JIT, 0.0 + float32 is float32)
        total = np.float64(0.0)
        for c0 in range(0, w1 - w0, chunk_rows):
            n = min(w1 - w0 - c0, chunk_rows)
            v0, v1 = (w0 + c0) * n_components, (w0 + c0 + n) * n_components
            if counts.flags.c_contiguous:  # read in place (each count before its value is stored)
                chunk_counts = counts.reshape(-1)[v0:v1]
            else:  # a transposed table: its chunk copied flat first
                for j in range(n):
                    for k in range(n_components):
                        raw[j * n_components + k] = counts[w0 + c0 + j, k]
                chunk_counts = raw[:n * n_components]
            chunk_out = flat_out[v0:v1]
            for i in range(n * n_components):
                count = chunk_counts[i]
                # (vlog(0) = -inf: never counted, alpha = 0; an empty column
                # is possible only then, and so is not `normal`)
                value = (vlog_normal(count + alpha) if normal else vlog(count + alpha)) - shift[i]
                chunk_out[i] = uniform if (not normal and is_empty[i]) else value
                value = chunk_out[i]  # as stored: a float32 table rounds it
                total += value
                dot += count * value if count > 0.0 else 0.0
        sums[b, 0] = dot
        sums[b, 1] = total
    dot = 0.0
    total = 0.0
    for b in range(_N_BLOCKS):
        dot += sums[b, 0]
        total += sums[b, 1]
    if n_features > n_rows:  # the words not stored: the values of a row without counts
        log_alpha = vlog(np.float64(alpha))
        unseen = np.empty(n_components, dtype=out.dtype)
        unseen_sum = np.float64(0.0)  # (a float32 table: without JIT, 0.0 + float32 is float32)
        for k in range(n_components):
            unseen[k] = uniform if empty[k] else log_alpha - log_total[k]
            unseen_sum += unseen[k]
        total += (n_features - n_rows) * unseen_sum
    return dot, total


@njit(**PARALLEL_JIT)
def gather_rows(table, rows, out):
    """``out[w] = table[rows[w]]`` for every row ``w`` of the 2-D ``out``
    (``rows`` must index ``table``'s rows): ``np.take(table, rows, axis=0)``
    in parallel chunks of rows (a [2^22, 20] table: 70 ms against 135)."""
    n_out, n_components = out.shape
    for b in prange(_N_BLOCKS):
        w0, w1 = b * n_out // _N_BLOCKS, (b + 1) * n_out // _N_BLOCKS
        block_rows = rows[w0:w1]  # (walked from 0: see csr's module docstring)
        block_out = out[w0:w1]
        for w in range(block_rows.shape[0]):
            r = block_rows[w]
            for k in range(n_components):
                block_out[w, k] = table[r, k]


@njit(**PARALLEL_JIT)
def capped_kl_costs(jll, neg_entropy, lengths, shift, cap, col_sums):
    """The k-means++ seeding's costs from its joint log-likelihoods, in place:
    ``jll[i, c]`` becomes ``min(max(neg_entropy[i] - jll[i, c] + lengths[i] *
    shift[c], 0), cap[i])`` (``fastem._multinomial.DocumentSeeds.costs``), and
    ``col_sums[c]`` the sum of column ``c`` of the result, float64 in a fixed
    order (``_N_BLOCKS`` blocks of rows), whatever the thread count. One pass
    instead of NumPy's subtract, maximum, minimum and column sum, each a pass
    over [n_samples, C]: 30 candidates on 100,000 documents 5.2-5.6 -> 0.4 ms
    (AMD Zen 5, 2 threads)."""
    n_rows, n_cols = jll.shape
    partial = np.zeros((_N_BLOCKS, n_cols))
    for b in prange(_N_BLOCKS):
        acc = np.zeros(n_cols)  # thread-local: rows of `partial` share cache lines
        for i in range(b * n_rows // _N_BLOCKS, (b + 1) * n_rows // _N_BLOCKS):
            base = neg_entropy[i]
            length = lengths[i]
            limit = cap[i]
            row = jll[i]
            for c in range(n_cols):
                value = base - row[c] + length * shift[c]
                value = value if value > 0.0 else 0.0  # rounding can dip below 0
                value = value if value < limit else limit
                row[c] = value
                acc[c] += value
        partial[b] = acc
    for c in range(n_cols):
        total = 0.0
        for b in range(_N_BLOCKS):
            total += partial[b, c]
        col_sums[c] = total
