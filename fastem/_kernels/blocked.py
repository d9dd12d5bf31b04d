"""The EM pass over a row-blocked, column-sorted copy of a CSR matrix.

Why: in a plain CSR walk every non-zero reads one random row of the
[n_features, K] word table (E-step) and updates one random row of the
[n_features, K] count table (M-step). Once those tables outgrow the core's L2
cache, that random access, not arithmetic, sets the speed.

So the matrix is regrouped once per fit. Rows are cut into blocks of ``R``
consecutive rows, with ``R * K`` values small enough to stay in cache (L2, or
the last level: ``fastem._config.block_bytes_for``). Within a
block, the entries are sorted by column (a CSC of the block):

* ``cols[dstart[b]:dstart[b + 1]]`` are the distinct columns of block ``b``,
  in increasing order;
* ``col_ptr[d]:col_ptr[d + 1]`` are the entries of column ``cols[d]`` in that
  block, in row order;
* ``ent_row[e]`` is the entry's row within its block (uint16) and
  ``abs(ent_val[e])`` its value (stored zeros are dropped, and the values of
  a validated CSR are positive: the first entry of each column's run is
  stored negated, to mark it; float32 whenever that is exact, as for word
  counts: the pass reads 6 bytes per entry, not 10).

An EM pass then streams each table once per block, column by column (each
table row is read, or updated, once per block and consecutive reads go up in
memory), and the random access falls on the block's [R, K] buffer, which
stays in cache. The M phase's loop over one column's entries holds the
table row in vector registers for the whole run (``column_gather`` in
``._intrinsics``); so does the E phase's for more than ``FLAT_MAX_WIDTH``
components (``column_scatter``), and for at most that many it walks all of
a block's runs in one loop that finds their starts from the negated values
(``block_scatter``: no mispredicted branch where a run ends; in a block
whose runs are short, ``block_scatter_ahead``, which also asks for the
table rows a few runs ahead: see ``SHORT_RUNS``).

The *hot* words (the most frequent, as many as ``HOT_TABLE_BYTES`` of
[n_hot, K] float64 table rows hold) are left out of the column runs and kept
row by row instead: ``hot_ptr[i]:hot_ptr[i + 1]`` are row ``i``'s entries of
hot words, in CSR order, ``hot_idx[q]`` the word's place in ``hot_cols``
(uint16) and ``hot_val[q]`` the value (positive; the dtype of ``ent_val``).
Their table rows fit in cache, so those entries are read with the buffer
row held in registers (``column_gather`` with the roles swapped) and each
block's M phase for them runs on the thread that computed the
responsibilities, into a [n_hot, K] partial sum per thread, added to
``counts`` in block order: a random access into the buffer, which is larger
than L2, becomes one into a table that is not. (On the benchmark corpus the
512 most frequent words hold half of the entries.)

Only the *free* rows are copied (non-zero weight, component unknown). A row
with one known component (a labelled row of Naive Bayes) has the same
responsibilities in every pass: its counts are added up once per fit and
enter each pass as a constant, by word (``fixed_*``), with their
log-likelihood at the current parameters (one product per non-zero count).

Blocks go in rounds of one block per thread:

1. E phase: each thread fills its block's buffer with the joint
   log-likelihood, turns every free row into weighted responsibilities and
   keeps the block's objective and class counts;
2. M phase: each thread owns a range of words (balanced by entries) and
   adds the round's blocks into those rows of ``counts``, asking for the
   count rows a few runs ahead (``COUNT_PREFETCH_RUNS``).

With a float32 word table the responsibilities are stored in float32, over
the first half of the block's buffer (``_resp_rows``): the M phase, which
reads a buffer row per entry from a buffer larger than L2, then reads half
the bytes. Its sums stay float64; the counts are those of responsibilities
rounded to float32 (relative 6e-8, within the precision of such a table).

Threads never write the same row of ``counts``, so there is one count table
and no per-thread copies: beyond its output the pass needs ``n_threads``
[R, K] buffers, ``n_threads`` [n_hot, K] partial sums (``HOT_TABLE_BYTES``
each at most) and ``n_threads * K`` partial sums. Each ``counts[w, k]`` is
summed in a fixed order (the fixed rows' count, then the free rows in row
order; for a hot word, each block's partial sum in block order) and the
per-block totals are added in block order, so the result does not depend on
the thread count at all.

Nothing here validates input: ``fastem._base.make_blocks`` builds these
arrays from a CSR that ``fastem._validation`` has checked (Numba does not
check bounds).
"""
import numpy as np
from numba import njit, prange

from .._config import JIT, PARALLEL_JIT
from ._intrinsics import (BUF_PREFETCH_MIN_WIDTH, FLAT_MAX_WIDTH, RUN_WIDTH, block_scatter,
                          block_scatter_ahead, column_gather, column_scatter,
                          column_scatter_cached)
from .csr import _chunk_posterior, posterior_chunk_rows, entry_slices, prefetch_row


@njit(**JIT)
def _gather_block(data, indices, indptr, free, hot_id, r0, r1, b, seen, pos, cols, d0):
    """Walk the free rows ``r0:r1`` of block ``b``: write its distinct columns
    that are not hot (``hot_id[column] < 0``), in order of first appearance,
    to ``cols[d0:]``, their numbers of entries to ``pos[column]``, and return
    ``(n_distinct, n_entries)``. ``seen`` holds, per column, the last block
    that saw it (stamps: never reset)."""
    n_distinct = 0
    n_entries = 0
    for r in range(r0, r1):
        if not free[r]:
            continue
        row_data, row_indices = entry_slices(data, indices, indptr[r], indptr[r + 1])
        for p in range(row_data.shape[0]):
            if row_data[p] != 0 and hot_id[row_indices[p]] < 0:
                n_entries += 1
                w = row_indices[p]
                if seen[w] != b:
                    seen[w] = b
                    pos[w] = 0
                    cols[d0 + n_distinct] = w
                    n_distinct += 1
                pos[w] += 1
    return n_distinct, n_entries


@njit(**PARALLEL_JIT)
def block_sizes(data, indices, indptr, free, hot_id, n_features, rows_per_block, n_parts):
    """Distinct columns and stored non-zero entries of the ``free`` rows of
    each row block, hot words left out: ``(distinct [n_blocks], entries
    [n_blocks])``."""
    n_rows = indptr.shape[0] - 1
    n_blocks = (n_rows + rows_per_block - 1) // rows_per_block
    distinct = np.zeros(n_blocks, dtype=np.int64)
    entries = np.zeros(n_blocks, dtype=np.int64)
    for part in prange(n_parts):
        seen = np.full(n_features, -1, dtype=np.int64)
        pos = np.zeros(n_features, dtype=np.int64)
        cols = np.empty(n_features, dtype=indices.dtype)
        for b in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            r0 = b * rows_per_block
            distinct[b], entries[b] = _gather_block(data, indices, indptr, free, hot_id, r0,
                                                    min(n_rows, r0 + rows_per_block), b, seen,
                                                    pos, cols, 0)
    return distinct, entries


@njit(**PARALLEL_JIT)
def fill_blocks(data, indices, indptr, free, hot_id, n_features, rows_per_block, n_parts, dstart,
                estart, cols, col_ptr, ent_row, ent_val, hot_ptr, hot_idx, hot_val):
    """Write the blocked copy (see the module docstring) into ``cols``,
    ``col_ptr``, ``ent_row`` and ``ent_val``, sized by ``block_sizes``
    (``dstart``/``estart`` are the cumulative sums of its two outputs), and
    the free rows' entries of hot words, in CSR order, into ``hot_idx`` (the
    word's ``hot_id``) and ``hot_val`` at ``hot_ptr`` (the cumulative sum of
    ``hot_row_sizes``)."""
    n_rows = indptr.shape[0] - 1
    n_blocks = dstart.shape[0] - 1
    for part in prange(n_parts):
        seen = np.full(n_features, -1, dtype=np.int64)
        pos = np.zeros(n_features, dtype=np.int64)
        for b in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            r0 = b * rows_per_block
            r1 = min(n_rows, r0 + rows_per_block)
            d0 = dstart[b]
            n_distinct, _ = _gather_block(data, indices, indptr, free, hot_id, r0, r1, b, seen,
                                          pos, cols, d0)
            if n_features <= 4 * n_distinct:  # a dense block: scanning the columns beats sorting
                n_distinct = 0
                for w in range(n_features):
                    if seen[w] == b:
                        cols[d0 + n_distinct] = w
                        n_distinct += 1
            else:
                cols[d0:d0 + n_distinct].sort()
            offset = estart[b]
            for d in range(d0, d0 + n_distinct):
                w = cols[d]
                col_ptr[d] = offset
                n_entries = pos[w]
                pos[w] = offset  # from here on: where the column's next entry goes
                offset += n_entries
            for r in range(r0, r1):
                if not free[r]:
                    continue
                row_data, row_indices = entry_slices(data, indices, indptr[r], indptr[r + 1])
                q = hot_ptr[r]
                for p in range(row_data.shape[0]):
                    if row_data[p] == 0:
                        continue
                    hot = hot_id[row_indices[p]]
                    if hot < 0:
                        e = pos[row_indices[p]]
                        pos[row_indices[p]] = e + 1
                        ent_row[e] = r - r0
                        ent_val[e] = row_data[p]
                    else:
                        hot_idx[q] = hot
                        hot_val[q] = row_data[p]
                        q += 1
            for d in range(d0, d0 + n_distinct):  # mark the runs' starts (sign bit set)
                ent_val[col_ptr[d]] = -ent_val[col_ptr[d]]
    col_ptr[dstart[n_blocks]] = estart[n_blocks]


@njit(**JIT)
def column_entries(data, indices, indptr, free, n_features):
    """Stored non-zero entries of each column in the ``free`` rows [n_features]."""
    counts = np.zeros(n_features, dtype=np.int64)
    for r in range(indptr.shape[0] - 1):
        if free[r]:
            row_data, row_indices = entry_slices(data, indices, indptr[r], indptr[r + 1])
            for p in range(row_data.shape[0]):
                if row_data[p] != 0:
                    counts[row_indices[p]] += 1
    return counts


@njit(**PARALLEL_JIT)
def hot_row_sizes(data, indices, indptr, free, hot_id):
    """Stored non-zero entries of hot words (``hot_id >= 0``) in each row
    [n_rows]; 0 for rows that are not free."""
    n_rows = indptr.shape[0] - 1
    sizes = np.zeros(n_rows, dtype=np.int64)
    for r in prange(n_rows):
        if free[r]:
            row_data, row_indices = entry_slices(data, indices, indptr[r], indptr[r + 1])
            n = 0
            for p in range(row_data.shape[0]):
                if row_data[p] != 0 and hot_id[row_indices[p]] >= 0:
                    n += 1
            sizes[r] = n
    return sizes


#: values per chunk of ``exact_in_float32`` (the loop within a chunk vectorises)
_EXACT_CHUNK = 4096


@njit(**JIT)
def exact_in_float32(data):
    """Whether every value of ``data`` is a float32 value (word counts are):
    the blocked copy then stores them in 4 bytes, at no loss."""
    n = data.shape[0]
    for c0 in range(0, n, _EXACT_CHUNK):
        exact = True
        for p in range(c0, min(n, c0 + _EXACT_CHUNK)):
            exact &= np.float64(np.float32(data[p])) == data[p]
        if not exact:
            return False
    return True


@njit(**JIT)
def column_cost(cols, col_ptr, n_features):
    """Work per column of an M phase: its entries plus one per block it is in."""
    cost = np.zeros(n_features, dtype=np.int64)
    for d in range(cols.shape[0]):
        cost[cols[d]] += col_ptr[d + 1] - col_ptr[d] + 1
    return cost


#: A block whose runs hold fewer than this many entries on average has its
#: E phase ask for the table rows a few runs ahead (``block_scatter_ahead``,
#: K from BUF_PREFETCH_MIN_WIDTH to FLAT_MAX_WIDTH): there a run's table row,
#: read from beyond L2 at its first entry, is shared by few entries. Measured
#: in turns in one process, 2 threads, AMD EPYC Zen 4, pass best / median ms,
#: without / with (the sums bitwise the same): K=20 on the 1M-non-zero
#: corpus of ``fastem bench --scaling`` (runs of 4.1 entries on average)
#: 6.01/6.68 -> 5.26/6.00, K=8 there 2.87/3.69 -> 2.80/3.27; on 3M (8.5)
#: and 10M (9.2) no change either way; with the hints in every block, the
#: bench corpus (12.2) 50.3 -> 53.0 (a hint per entry takes load slots).
SHORT_RUNS = 6


@njit(**JIT)
def _add_hot_rows(buf, hot_table, hot_idx, hot_val, hot_ptr):
    """``buf[r] += sum of hot_val[q] * hot_table[hot_idx[q]]`` over ``q`` in
    ``hot_ptr[r]:hot_ptr[r + 1]``, for the ``len(hot_ptr) - 1`` rows of a
    block: each row held in registers, the hot table in cache."""
    for r in range(hot_ptr.shape[0] - 1):
        for k0 in range(0, buf.shape[1], RUN_WIDTH):
            column_gather(buf, r, hot_table, hot_idx, hot_val, hot_ptr[r], hot_ptr[r + 1], k0)


@njit(**JIT)
def _block_jll(b, n_block_rows, dstart, cols, col_ptr, ent_row, ent_val, hot_ptr, hot_idx, hot_val,
               hot_table, log_prior, log_prob, buf):
    """``buf[r] = log_prior + sum of |ent_val| * log_prob[col]`` over the
    entries of row ``r`` of block ``b``, for ``r < n_block_rows``: the
    column runs in column order, then the row's hot entries (``hot_ptr``:
    the block's ``n_block_rows + 1`` row pointers; ``hot_table``:
    ``log_prob[hot_cols]``)."""
    n_components = log_prob.shape[1]
    for r in range(n_block_rows):
        for k in range(n_components):
            buf[r, k] = log_prior[k]
    if n_components <= FLAT_MAX_WIDTH:
        e0, e1 = col_ptr[dstart[b]], col_ptr[dstart[b + 1]]
        short = e1 - e0 < SHORT_RUNS * (dstart[b + 1] - dstart[b])
        for k0 in range(0, n_components, RUN_WIDTH):  # (one call, unless RUN_WIDTH < K)
            if short and n_components >= BUF_PREFETCH_MIN_WIDTH:
                block_scatter_ahead(log_prob, cols, dstart[b], buf, ent_row, ent_val, e0, e1, k0)
            else:
                block_scatter(log_prob, cols, dstart[b], buf, ent_row, ent_val, e0, e1, k0)
    else:  # all of a run's columns while its buffer rows are in L1
        for d in range(dstart[b], dstart[b + 1]):
            for k0 in range(0, n_components, RUN_WIDTH):
                column_scatter(log_prob, cols[d], buf, ent_row, ent_val, col_ptr[d],
                               col_ptr[d + 1], k0)
    if hot_table.shape[0] > 0:
        _add_hot_rows(buf, hot_table, hot_idx, hot_val, hot_ptr)


@njit(**PARALLEL_JIT)
def blocked_jll(rows_per_block, dstart, cols, col_ptr, ent_row, ent_val, hot_cols, hot_ptr, hot_idx,
                hot_val, log_prior, log_prob, out):
    """``out[i, k] = log_prior[k] + sum_w X[i, w] * log_prob[w, k]`` (the
    joint log-likelihood of ``csr.joint_log_likelihood``) from the blocked
    copy, each block's rows of ``out`` [n_samples, K] (C-ordered) serving as
    its buffer. A row the copy does not hold (not free) gets ``log_prior``.
    Each value is summed in a fixed order (the block's columns in increasing
    order, then the row's hot entries), whatever the thread count."""
    n_samples = out.shape[0]
    n_blocks = dstart.shape[0] - 1
    hot_table = log_prob[hot_cols]  # (a C-ordered copy)
    for b in prange(n_blocks):
        r0 = b * rows_per_block
        r1 = min(n_samples, r0 + rows_per_block)
        _block_jll(b, r1 - r0, dstart, cols, col_ptr, ent_row, ent_val, hot_ptr[r0:r1 + 1],
                   hot_idx, hot_val, hot_table, log_prior, log_prob, out[r0:r1])


@njit(**PARALLEL_JIT)
def blocked_add_jll(rows_per_block, dstart, cols, col_ptr, ent_row, ent_val, hot_cols, hot_ptr,
                    hot_idx, hot_val, col_map, table, out):
    """``out[i] += sum_w X[i, w] * table[col_map[w]]`` over the words ``w``
    with ``col_map[w] >= 0`` (``col_map`` [n_features] gives each of those a
    row of ``table`` [n_rows, K]; the words left out cost nothing), from the
    blocked copy, into ``out`` [n_samples, K] (C-ordered). A table that
    differs from a common one on a few words only (the seeding's candidate
    centres) then costs the entries of those words, not of every word (and
    every entry of the hot words, whose table rows are in cache: see the
    module docstring). Each value is summed in a fixed order (the block's
    columns in increasing order, then the row's hot entries), whatever the
    thread count."""
    n_samples = out.shape[0]
    n_blocks = dstart.shape[0] - 1
    n_components = table.shape[1]
    # the hot words' rows of ``table``, zeros for the words left out (each
    # adds x * 0.0: nothing)
    hot_table = np.zeros((hot_cols.shape[0], n_components), dtype=table.dtype)
    any_hot = False
    for c in range(hot_cols.shape[0]):
        row = col_map[hot_cols[c]]
        if row >= 0:
            any_hot = True
            hot_table[c] = table[row]
    for b in prange(n_blocks):
        r0 = b * rows_per_block
        r1 = min(n_samples, r0 + rows_per_block)
        buf = out[r0:r1]
        for d in range(dstart[b], dstart[b + 1]):
            row = col_map[cols[d]]
            if row >= 0:
                for k0 in range(0, n_components, RUN_WIDTH):
                    column_scatter(table, row, buf, ent_row, ent_val, col_ptr[d], col_ptr[d + 1],
                                   k0)
        if any_hot:
            _add_hot_rows(buf, hot_table, hot_idx, hot_val, hot_ptr[r0:r1 + 1])


@njit(**JIT)
def _resp_rows(buf, dtype):
    """The [R, K] responsibilities of a block, in ``dtype``, over the memory
    of its [R, K] float64 buffer ``buf`` (C-ordered): ``buf`` itself for
    float64; for float32, its first half, whose row ``r`` ends before row
    ``r`` of ``buf`` does, so rows written in order never overwrite a
    log-likelihood not yet read."""
    n_rows, n_components = buf.shape
    return buf.reshape(-1).view(dtype)[:n_rows * n_components].reshape((n_rows, n_components))


@njit(**JIT)
def _block_e_step(rows_per_block, n_samples, b, dstart, cols, col_ptr, ent_row, ent_val, hot_ptr,
                  hot_idx, hot_val, hot_table, free, weight, labels, label_bounds, log_prior,
                  log_prob, buf, class_acc, hot_counts):
    """Weighted responsibilities of block ``b``'s free rows into
    ``_resp_rows(buf, log_prob.dtype)`` [R, K] (other rows get 0: no entry
    reads them), rounded to the table's precision (float32: 0 below its
    smallest normal); adds the block's class counts (unrounded) to
    ``class_acc``, overwrites ``hot_counts`` [n_hot, K] with the block's
    counts of the hot words and returns its objective."""
    n_components = log_prob.shape[1]
    r0 = b * rows_per_block
    n_block_rows = min(n_samples, r0 + rows_per_block) - r0
    block_hot_ptr = hot_ptr[r0:r0 + n_block_rows + 1]
    _block_jll(b, n_block_rows, dstart, cols, col_ptr, ent_row, ent_val, block_hot_ptr, hot_idx,
               hot_val, hot_table, log_prior, log_prob, buf)
    hot_counts[:] = 0.0
    # the posteriors, a chunk of rows at a time (rows that are not free get
    # weight 0: no entry of the block reads their buffer rows)
    rows = posterior_chunk_rows(n_components)
    work = np.empty((n_components + 2, rows))
    lo = np.empty(rows, dtype=np.int64)
    hi = np.empty(rows, dtype=np.int64)
    log_norm = np.empty(rows)
    wj = np.empty(rows)
    objective = 0.0
    block_labels = labels[r0:r0 + n_block_rows]
    block_weight = weight[r0:r0 + n_block_rows]
    block_free = free[r0:r0 + n_block_rows]
    resp = _resp_rows(buf, log_prob.dtype)
    # float32 responsibilities below its smallest normal are stored as 0 (a
    # subnormal costs a microcode assist where it is formed and where it is
    # read, on some CPUs)
    floor = np.finfo(np.float32).tiny if resp.itemsize == 4 else 0.0
    for c0 in range(0, n_block_rows, rows):
        n = min(n_block_rows, c0 + rows) - c0
        for j in range(n):
            label = block_labels[c0 + j]
            lo[j] = label_bounds[label] if label >= 0 else 0
            hi[j] = label_bounds[label + 1] if label >= 0 else n_components
            wj[j] = block_weight[c0 + j] if block_free[c0 + j] else 0.0
        _chunk_posterior(buf[c0:c0 + n], lo, hi, work, log_norm)
        for j in range(n):
            if block_free[c0 + j]:
                objective += wj[j] * log_norm[j]
        for j in range(n):  # (after the chunk's rows of buf have been read)
            for k in range(n_components):
                value = wj[j] * work[k, j]
                resp[c0 + j, k] = 0.0 if abs(value) < floor else value
        if hot_table.shape[0] > 0:  # the hot words' M phase, while the rows are in cache
            # (into partial sums that stay in cache: no buffer-row hints; measured
            # in turns in one process on the bench corpus, K=20: E phase 24.6 ->
            # 22.8 ms and pass 45.7 -> 44.7 ms best, K=50 unchanged)
            for j in range(c0, c0 + n):
                for k0 in range(0, n_components, RUN_WIDTH):
                    column_scatter_cached(resp, j, hot_counts, hot_idx, hot_val,
                                          block_hot_ptr[j], block_hot_ptr[j + 1], k0)
        for k in range(n_components):
            acc = class_acc[k]
            for j in range(n):
                acc += wj[j] * work[k, j]
            class_acc[k] = acc
    return objective


#: The M phase asks for the count row of the run this many runs ahead (for
#: writing), when a row has at least BUF_PREFETCH_MIN_WIDTH values. A run
#: reads and writes one row of the [n_features, K] count table, which is
#: larger than L2, and most runs are short (on the 1M-non-zero corpus of
#: ``fastem bench --scaling``, 2 blocks of 5,556 rows, 46% of the runs have
#: one entry; with the count rows in L1, as a probe, its M phase took 2.3
#: against 4.3 ms). Measured in turns in one process, 2 threads, AMD EPYC
#: Zen 4, pass best / median ms, without / with (the sums bitwise the same):
#: K=20 1M non-zeros 7.70/8.71 -> 6.96/8.08, 10M 53.95/55.24 -> 50.21/50.64,
#: the bench corpus (9M) 45.84/52.17 -> 43.91/50.58; K=16 1M 5.96/6.25 ->
#: 5.46/5.66; K=50 9M 165.5/186.0 -> 162.9/182.9; K=100 9M 373.6/382.1 ->
#: 363.3/376.6; at K=2 and 5 (rows of one line or less) 2-5% slower, so not
#: asked for there. 4 and 16 runs ahead were no better than 8.
COUNT_PREFETCH_RUNS = 8

#: the fixed rows' part of the objective is summed in this many column
#: chunks, whatever the thread count
_N_FIXED_CHUNKS = 16


@njit(**JIT)
def _lower_bound(values, lo, hi, target):
    """First position in the sorted ``values[lo:hi]`` holding a value >= target."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**PARALLEL_JIT)
def blocked_em_pass(rows_per_block, n_samples, dstart, cols, col_ptr, ent_row, ent_val, col_split,
                    free, fixed_ptr, fixed_comp, fixed_val, fixed_class, hot_cols, hot_ptr,
                    hot_idx, hot_val, weight, labels, label_bounds, log_prior, log_prob, counts,
                    class_counts):
    """One fused E+M pass; overwrites ``counts`` [n_features, K] and
    ``class_counts`` [K] with the expected counts and returns the weighted
    log-likelihood (the contract of ``fastem._base.expected_counts``).

    The blocked copy holds the ``free`` rows. The fixed rows (one known
    component, non-zero weight) enter through their counts, the same in every
    pass: ``fixed_class`` [K] and, by word, ``fixed_val[q]`` for component
    ``fixed_comp[q]``, ``q`` in ``fixed_ptr[w]:fixed_ptr[w + 1]`` (with no
    fixed counts, ``fixed_ptr`` may be shorter and is not read). Rows that
    are neither (zero weight) contribute nothing. ``col_split``
    [n_threads + 1] gives the threads' word ranges of the M phase; the hot
    words (``hot_*``) are counted by the E phase's threads instead.
    """
    n_blocks = dstart.shape[0] - 1
    n_slots = col_split.shape[0] - 1
    n_features, n_components = counts.shape
    bufs = np.empty((n_slots, rows_per_block, n_components))
    round_obj = np.zeros(n_slots)
    round_class = np.zeros((n_slots, n_components))
    hot_table = log_prob[hot_cols]  # (a C-ordered copy)
    round_hot = np.empty((n_slots, hot_cols.shape[0], n_components))
    # the fixed rows (if any: ``fixed_ptr`` then has n_features + 1 entries):
    # their log-likelihood at these parameters ...
    any_fixed = fixed_val.shape[0] > 0
    fixed_obj = np.zeros(_N_FIXED_CHUNKS)
    for c in prange(_N_FIXED_CHUNKS):
        total = 0.0
        for w in range(c * n_features // _N_FIXED_CHUNKS,
                       (c + 1) * n_features // _N_FIXED_CHUNKS if any_fixed else 0):
            for q in range(fixed_ptr[w], fixed_ptr[w + 1]):
                total += fixed_val[q] * log_prob[w, fixed_comp[q]]
        fixed_obj[c] = total
    objective = 0.0
    for c in range(_N_FIXED_CHUNKS):
        objective += fixed_obj[c]
    for k in range(n_components):
        class_counts[k] = fixed_class[k]
        if fixed_class[k] > 0.0:
            objective += fixed_class[k] * log_prior[k]
    # ... and their counts, where each thread's word range starts
    for s in prange(n_slots):
        lo_col, hi_col = col_split[s], col_split[s + 1]
        counts[lo_col:hi_col] = 0.0
        if any_fixed:
            for w in range(lo_col, hi_col):
                for q in range(fixed_ptr[w], fixed_ptr[w + 1]):
                    counts[w, fixed_comp[q]] += fixed_val[q]
    ask_ahead = n_components >= BUF_PREFETCH_MIN_WIDTH  # (the M phase's count-row hints)
    for first in range(0, n_blocks, n_slots):
        n_round = min(n_slots, n_blocks - first)
        for s in prange(n_round):
            class_acc = np.zeros(n_components)  # thread-local (no shared cache lines)
            round_obj[s] = _block_e_step(
                rows_per_block, n_samples, first + s, dstart, cols, col_ptr, ent_row, ent_val,
                hot_ptr, hot_idx, hot_val, hot_table, free, weight, labels, label_bounds,
                log_prior, log_prob, bufs[s], class_acc, round_hot[s])
            round_class[s] = class_acc
        for s in range(n_round):  # block order, whatever the thread count
            objective += round_obj[s]
            for k in range(n_components):
                class_counts[k] += round_class[s, k]
            for c in range(hot_cols.shape[0]):
                w = hot_cols[c]
                for k in range(n_components):
                    counts[w, k] += round_hot[s, c, k]
        for s in prange(n_slots):
            lo_col, hi_col = col_split[s], col_split[s + 1]
            for j in range(n_round):
                b = first + j
                resp = _resp_rows(bufs[j], log_prob.dtype)
                d_lo = _lower_bound(cols, dstart[b], dstart[b + 1], lo_col)
                d_hi = _lower_bound(cols, d_lo, dstart[b + 1], hi_col)
                for d in range(d_lo, d_hi):
                    if ask_ahead and d + COUNT_PREFETCH_RUNS < d_hi:
                        prefetch_row(counts, cols[d + COUNT_PREFETCH_RUNS])
                    for k0 in range(0, n_components, RUN_WIDTH):
                        column_gather(counts, cols[d], resp, ent_row, ent_val, col_ptr[d],
                                      col_ptr[d + 1], k0)
    return objective
