"""The EM pass over a row-blocked, column-sorted copy of a CSR matrix.

Why: in a plain CSR walk every non-zero reads one random row of the
[n_features, K] word table (E-step) and updates one random row of the
[n_features, K] count table (M-step). Once those tables outgrow the core's L2
cache, that random access, not arithmetic, sets the speed.

So the matrix is regrouped once per fit. Rows are cut into blocks of ``R``
consecutive rows, with ``R * K`` values small enough to stay in L2. Within a
block, the entries are sorted by column (a CSC of the block):

* ``cols[dstart[b]:dstart[b + 1]]`` are the distinct columns of block ``b``,
  in increasing order;
* ``col_ptr[d]:col_ptr[d + 1]`` are the entries of column ``cols[d]`` in that
  block, in row order;
* ``ent_row[e]`` is the entry's row within its block (uint16) and
  ``ent_val[e]`` its value (stored zeros are dropped).

An EM pass then streams each table once per block, column by column (each
table row is read, or updated, once per block and consecutive reads go up in
memory), and the random access falls on the block's [R, K] buffer, which
stays in cache.

Blocks go in rounds of one block per thread:

1. E phase: each thread fills its block's buffer with the joint
   log-likelihood, turns every row into weighted responsibilities and keeps
   the block's objective and class counts;
2. M phase: each thread owns a range of columns (balanced by entries) and
   adds the round's blocks into those rows of ``counts``.

Threads never write the same row of ``counts``, so there is one count table
and no per-thread copies: the M-step needs ``n_threads * R * K`` floats
beyond its output. Each ``counts[w, k]`` is summed over its entries in global
row order whatever the block size or thread count, and block totals are added
in block order.
"""
import numpy as np
from numba import njit, prange

from .._config import JIT, PARALLEL_JIT
from .csr import _row_posterior


@njit(**PARALLEL_JIT)
def block_sizes(data, indices, indptr, n_features, rows_per_block, n_parts):
    """Distinct columns and stored non-zero entries of each row block:
    ``(distinct [n_blocks], entries [n_blocks])``."""
    n_rows = indptr.shape[0] - 1
    n_blocks = (n_rows + rows_per_block - 1) // rows_per_block
    distinct = np.zeros(n_blocks, dtype=np.int64)
    entries = np.zeros(n_blocks, dtype=np.int64)
    for part in prange(n_parts):
        # the block that last saw each column (stamps: never reset)
        seen = np.full(n_features, -1, dtype=np.int64)
        for b in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            r0 = b * rows_per_block
            r1 = min(n_rows, r0 + rows_per_block)
            n_distinct = 0
            n_entries = 0
            for p in range(indptr[r0], indptr[r1]):
                if data[p] != 0:
                    n_entries += 1
                    w = indices[p]
                    if seen[w] != b:
                        seen[w] = b
                        n_distinct += 1
            distinct[b] = n_distinct
            entries[b] = n_entries
    return distinct, entries


@njit(**PARALLEL_JIT)
def fill_blocks(data, indices, indptr, n_features, rows_per_block, n_parts, dstart, estart,
                cols, col_ptr, ent_row, ent_val):
    """Write the blocked copy (see the module docstring) into ``cols``,
    ``col_ptr``, ``ent_row`` and ``ent_val``, sized by ``block_sizes``
    (``dstart``/``estart`` are the cumulative sums of its two outputs)."""
    n_rows = indptr.shape[0] - 1
    n_blocks = dstart.shape[0] - 1
    for part in prange(n_parts):
        seen = np.full(n_features, -1, dtype=np.int64)
        pos = np.zeros(n_features, dtype=np.int64)
        for b in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            r0 = b * rows_per_block
            r1 = min(n_rows, r0 + rows_per_block)
            d0 = dstart[b]
            n_distinct = 0
            for p in range(indptr[r0], indptr[r1]):
                if data[p] != 0:
                    w = indices[p]
                    if seen[w] != b:
                        seen[w] = b
                        pos[w] = 0
                        cols[d0 + n_distinct] = w
                        n_distinct += 1
                    pos[w] += 1
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
                for p in range(indptr[r], indptr[r + 1]):
                    if data[p] != 0:
                        e = pos[indices[p]]
                        pos[indices[p]] = e + 1
                        ent_row[e] = r - r0
                        ent_val[e] = data[p]
    col_ptr[dstart[n_blocks]] = estart[n_blocks]


@njit(**JIT)
def column_cost(cols, col_ptr, n_features):
    """Work per column of an M phase: its entries plus one per block it is in."""
    cost = np.zeros(n_features, dtype=np.int64)
    for d in range(cols.shape[0]):
        cost[cols[d]] += col_ptr[d + 1] - col_ptr[d] + 1
    return cost


@njit(**JIT)
def _block_e_step(rows_per_block, n_samples, b, dstart, cols, col_ptr, ent_row, ent_val,
                  weight, labels, label_bounds, log_prior, log_prob, buf, class_acc):
    """Weighted responsibilities of block ``b``'s rows into ``buf`` [R, K];
    adds the block's class counts to ``class_acc`` and returns its objective."""
    n_components = log_prob.shape[1]
    r0 = b * rows_per_block
    n_block_rows = min(n_samples, r0 + rows_per_block) - r0
    for r in range(n_block_rows):
        for k in range(n_components):
            buf[r, k] = log_prior[k]
    for d in range(dstart[b], dstart[b + 1]):
        w = cols[d]
        for e in range(col_ptr[d], col_ptr[d + 1]):
            r = ent_row[e]
            x = ent_val[e]
            for k in range(n_components):
                buf[r, k] += x * log_prob[w, k]
    resp = np.empty(n_components)  # apart from buf, so that the softmax vectorises
    objective = 0.0
    for r in range(n_block_rows):
        i = r0 + r
        wi = weight[i]
        row = buf[r]
        if wi == 0.0:
            row[:] = 0.0
            continue
        if labels[i] < 0:
            objective += wi * _row_posterior(row, 0, n_components, resp)
        else:
            lo, hi = label_bounds[labels[i]], label_bounds[labels[i] + 1]
            if hi - lo == 1:  # a fixed one-hot row: its log-likelihood is one value
                objective += wi * row[lo]
                resp[:] = 0.0
                resp[lo] = 1.0
            else:
                objective += wi * _row_posterior(row, lo, hi, resp)
        for k in range(n_components):
            value = wi * resp[k]
            row[k] = value
            class_acc[k] += value
    return objective


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
                    weight, labels, label_bounds, log_prior, log_prob, counts, class_counts):
    """One fused E+M pass over the blocked copy; same contract as
    ``fastem._base.expected_counts`` (rows, weights, labels and outputs), with the threads'
    column ranges of the M phase given by ``col_split`` [n_threads + 1]."""
    n_blocks = dstart.shape[0] - 1
    n_slots = col_split.shape[0] - 1
    n_components = counts.shape[1]
    bufs = np.empty((n_slots, rows_per_block, n_components))
    block_obj = np.zeros(n_blocks)
    block_class = np.zeros((n_blocks, n_components))
    for s in prange(n_slots):  # each thread zeroes the rows it will own
        counts[col_split[s]:col_split[s + 1]] = 0.0
    for first in range(0, n_blocks, n_slots):
        n_round = min(n_slots, n_blocks - first)
        for s in prange(n_round):
            class_acc = np.zeros(n_components)  # thread-local (no shared cache lines)
            block_obj[first + s] = _block_e_step(
                rows_per_block, n_samples, first + s, dstart, cols, col_ptr, ent_row, ent_val,
                weight, labels, label_bounds, log_prior, log_prob, bufs[s], class_acc)
            block_class[first + s] = class_acc
        for s in prange(n_slots):
            lo_col, hi_col = col_split[s], col_split[s + 1]
            for j in range(n_round):
                b = first + j
                buf = bufs[j]
                d_lo = _lower_bound(cols, dstart[b], dstart[b + 1], lo_col)
                d_hi = _lower_bound(cols, d_lo, dstart[b + 1], hi_col)
                for d in range(d_lo, d_hi):
                    w = cols[d]
                    for e in range(col_ptr[d], col_ptr[d + 1]):
                        r = ent_row[e]
                        x = ent_val[e]
                        for k in range(n_components):
                            counts[w, k] += x * buf[r, k]
    objective = 0.0
    class_counts[:] = 0.0
    for b in range(n_blocks):
        objective += block_obj[b]
        for k in range(n_components):
            class_counts[k] += block_class[b, k]
    return objective
