"""The row-blocked copy of a CSR matrix (``fastem._base.make_blocks``,
kernels in ``fastem._kernels.blocked``) and the properties of the fused pass
that come from it. The pass itself is checked against ``ref_em_pass`` in
``test_kernels_csr.py`` (its ``run_em``)."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from fastem._base import (BLOCK_GROUP, MAX_HOT, MAX_ROWS_PER_BLOCK, blocks_add_jll, blocks_jll,
                          expected_counts, make_blocks, make_em_data)
from fastem._config import (BLOCK_BYTES, HOT_TABLE_BYTES, MAX_BLOCK_BYTES, block_bytes_for,
                            cache_bytes_per_cpu)
from fastem._kernels._intrinsics import FLAT_MAX_WIDTH, RUN_WIDTH
from fastem._kernels.blocked import SHORT_RUNS, blocked_em_pass, exact_in_float32
from fastem._validation import CSR, check_csr
from reference import (ref_add_jll, ref_blocks, ref_em_pass, ref_fixed_counts, ref_hot_cols,
                       ref_hot_rows, ref_joint_log_likelihood)
from test_kernels_csr import (FIXTURE_WEIGHT, LABEL_BOUNDS_2_1, LABELS_2_1, N_FEATURES, ROWS,
                              Csr, random_csr)


def unpack(blocks):
    """The Blocks as ``ref_blocks`` lists them; checks on the way that
    exactly the first entry of each column's run is stored negated."""
    out = []
    for b in range(blocks.dstart.shape[0] - 1):
        entries = []
        for d in range(blocks.dstart[b], blocks.dstart[b + 1]):
            for e in range(blocks.col_ptr[d], blocks.col_ptr[d + 1]):
                value = float(blocks.ent_val[e])
                assert (value < 0) == (e == blocks.col_ptr[d])
                entries.append((int(blocks.cols[d]), int(blocks.ent_row[e]), abs(value)))
        out.append(entries)
    return out


def as_csr(c):
    return CSR(*c.arrays, c.shape)


def check_copy(blocks, c, rows_per_block, n_hot, free=None):
    """The blocked copy of ``c`` is the reference's: its ``n_hot`` hot words
    (or all the words that occur, if fewer), their entries row by row, and
    the other entries in column runs."""
    hot = ref_hot_cols(c.data, c.indices, c.indptr, n_hot, free)
    assert blocks.hot_cols.tolist() == hot
    assert unpack(blocks) == ref_blocks(c.data, c.indices, c.indptr, rows_per_block, free, hot)
    rows = [[(int(blocks.hot_cols[blocks.hot_idx[q]]), float(blocks.hot_val[q]))
             for q in range(blocks.hot_ptr[r], blocks.hot_ptr[r + 1])]
            for r in range(blocks.hot_ptr.shape[0] - 1)]
    assert rows == ref_hot_rows(c.data, c.indices, c.indptr, hot, free)
    assert blocks.hot_val.dtype == blocks.ent_val.dtype



@pytest.mark.parametrize("rows_per_block", [1, 2, 3, 5, 12, 100])
@pytest.mark.parametrize("n_hot", [0, 1, 3])
def test_blocks_match_reference_on_fixture(data_dtype, index_dtype, rows_per_block, n_threads,
                                           n_hot):
    c = Csr(ROWS, N_FEATURES, data_dtype, index_dtype)
    blocks = make_blocks(as_csr(c), 3, n_threads, rows_per_block=rows_per_block, n_hot=n_hot)
    check_copy(blocks, c, rows_per_block, n_hot)
    # distinct columns of a block are strictly increasing; entries are kept as stored
    for b in range(blocks.dstart.shape[0] - 1):
        assert np.all(np.diff(blocks.cols[blocks.dstart[b]:blocks.dstart[b + 1]]) > 0)
    # the fixture's values are all float32 values: stored in 4 bytes
    assert blocks.ent_val.dtype == np.float32 and blocks.cols.dtype == c.indices.dtype
    assert blocks.col_split[0] == 0 and blocks.col_split[-1] == N_FEATURES
    assert len(blocks.col_split) == n_threads + 1 and np.all(np.diff(blocks.col_split) >= 0)


@pytest.mark.parametrize("seed", range(3))
def test_blocks_match_reference_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    # dense enough for the column scan, sparse enough for the sort
    for density in (0.02, 0.6):
        c = random_csr(rng, 60, 50, density, np.float64, np.int32)
        for rows_per_block, n_hot in ((1, 0), (7, 5), (60, 0), (60, 20), (7, 100)):
            blocks = make_blocks(as_csr(c), 4, 2, rows_per_block=rows_per_block, n_hot=n_hot)
            check_copy(blocks, c, rows_per_block, n_hot)


def test_default_hot_words():
    """By default as many words are hot as HOT_TABLE_BYTES of [n_hot, K]
    float64 rows hold, at most MAX_HOT and at most the words that occur."""
    rng = np.random.default_rng(8)
    c = random_csr(rng, 300, 5000, 0.01, np.float64, np.int32)
    occurring = np.count_nonzero(np.bincount(c.indices[c.data != 0], minlength=5000))
    for k in (1, 20, 5000):
        blocks = make_blocks(as_csr(c), k, 2)
        n_hot = min(HOT_TABLE_BYTES // (8 * k), MAX_HOT, occurring)
        assert 0 < n_hot and blocks.hot_cols.shape[0] == n_hot
        check_copy(blocks, c, blocks.rows_per_block, n_hot)


@pytest.mark.parametrize("rows_per_block", [1, 4, 12])
@pytest.mark.parametrize("n_hot", [0, 3])
def test_fixed_rows_are_counted_once_not_copied(data_dtype, index_dtype, rows_per_block, n_hot):
    """Rows with one known component (class 1 -> component 2) and rows of
    weight 0 are left out of the copy; the fixed rows' counts come by word."""
    c = Csr(ROWS, N_FEATURES, data_dtype, index_dtype)
    weight = FIXTURE_WEIGHT.copy()
    weight[[0, 6]] = 0.0
    labels, label_bounds = LABELS_2_1, LABEL_BOUNDS_2_1
    blocks = make_blocks(as_csr(c), 3, 2, weight, labels, label_bounds,
                         rows_per_block=rows_per_block, n_hot=n_hot)
    fixed = (labels == 1) & (weight != 0)
    free = (weight != 0) & ~fixed
    np.testing.assert_array_equal(blocks.free, free)
    check_copy(blocks, c, rows_per_block, n_hot, free)
    dense = np.zeros((N_FEATURES, 3))
    for w in range(N_FEATURES):
        for q in range(blocks.fixed_ptr[w], blocks.fixed_ptr[w + 1]):
            dense[w, blocks.fixed_comp[q]] += blocks.fixed_val[q]
    want_counts, want_class = ref_fixed_counts(c.X, weight, labels, label_bounds)
    np.testing.assert_allclose(dense, want_counts, rtol=1e-15)
    np.testing.assert_allclose(blocks.fixed_class, want_class, rtol=1e-15)
    assert np.all(blocks.fixed_val > 0)


@pytest.mark.parametrize("n_components", [1, 3, FLAT_MAX_WIDTH, FLAT_MAX_WIDTH + 1, 40])
@pytest.mark.parametrize("rows_per_block", [1, 7, 60])
def test_blocked_jll_matches_reference(n_components, rows_per_block, n_threads, n_hot):
    """The joint log-likelihood from the blocked copy (both E-phase loops:
    K up to FLAT_MAX_WIDTH and more; for the first, blocks of short and of
    long runs, which ``block_scatter_ahead`` and ``block_scatter`` walk); a
    row left out of the copy (weight 0) gets the prior alone."""
    rng = np.random.default_rng(n_components)
    c = random_csr(rng, 50, 30, 0.3, np.float64, np.int32)
    weight = np.ones(50)
    weight[[4, 49]] = 0.0
    blocks = make_blocks(as_csr(c), n_components, n_threads, weight=weight,
                         rows_per_block=rows_per_block, n_hot=n_hot)
    if n_hot == 0:  # (the blocks whose runs average fewer than SHORT_RUNS entries)
        runs = np.diff(blocks.dstart)
        short = (np.diff(blocks.col_ptr[blocks.dstart]) < SHORT_RUNS * runs)[runs > 0]
        assert short.all() if rows_per_block < 60 else not short.any()
    log_prior = np.log(rng.dirichlet(np.ones(n_components)))
    log_prob = np.log(rng.dirichlet(np.ones(30), size=n_components).T.copy())
    out = blocks_jll(blocks, log_prior, log_prob, 50)
    want = ref_joint_log_likelihood(c.X, log_prior, log_prob)
    want[[4, 49]] = log_prior
    np.testing.assert_allclose(out, want, rtol=1e-13)


@pytest.mark.parametrize("n_hot", [0, 5])
def test_blocked_jll_is_bitwise_the_same_for_any_thread_count(n_hot):
    rng = np.random.default_rng(5)
    c = random_csr(rng, 300, 40, 0.2, np.float64, np.int32)
    log_prob = np.log(rng.dirichlet(np.ones(40), size=6).T.copy())
    log_prior = np.log(rng.dirichlet(np.ones(6)))
    results = []
    previous = numba.get_num_threads()
    try:
        for n_threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(n_threads)
            blocks = make_blocks(as_csr(c), 6, n_threads, rows_per_block=16, n_hot=n_hot)
            results.append(blocks_jll(blocks, log_prior, log_prob, 300))
    finally:
        numba.set_num_threads(previous)
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])


@pytest.mark.parametrize("n_components", [1, 3, RUN_WIDTH + 1])
@pytest.mark.parametrize("rows_per_block", [1, 7, 60])
def test_blocked_add_jll_matches_reference(n_components, rows_per_block, n_threads, n_hot):
    """Only the mapped words add (some rows of the table are never read,
    some words have none), into what ``out`` held; rows the copy leaves out
    keep it."""
    rng = np.random.default_rng(n_components + rows_per_block)
    c = random_csr(rng, 50, 30, 0.3, np.float64, np.int32)
    weight = np.ones(50)
    weight[[4, 49]] = 0.0
    blocks = make_blocks(as_csr(c), n_components, n_threads, weight=weight,
                         rows_per_block=rows_per_block, n_hot=n_hot)
    col_map = np.full(30, -1, dtype=np.int64)
    words = rng.choice(30, size=12, replace=False)
    col_map[words] = rng.permutation(16)[:12]  # 4 of the 16 table rows are never read
    table = rng.normal(size=(16, n_components))
    start = rng.normal(size=(50, n_components))
    out = start.copy()
    blocks_add_jll(blocks, col_map, table, out)
    want = ref_add_jll(c.X, col_map, table, start)
    want[[4, 49]] = start[[4, 49]]
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)
    # nothing mapped: nothing changes
    out = start.copy()
    blocks_add_jll(blocks, np.full(30, -1, dtype=np.int64), table, out)
    np.testing.assert_array_equal(out, start)


def test_default_block_size():
    X = sp.random(10_000, 300, density=0.01, format="csr", random_state=0)
    for k in (1, 3, 20, 1000):
        blocks = make_blocks(CSR(X.data, X.indices, X.indptr, X.shape), k, 2)
        n_blocks = blocks.dstart.shape[0] - 1
        assert n_blocks % BLOCK_GROUP == 0
        assert blocks.rows_per_block * k * 8 <= max(BLOCK_BYTES, 16 * k * 8)
        assert blocks.rows_per_block * n_blocks >= X.shape[0]
    # the blocks do not depend on the thread count (with and without hot words)
    for n_hot in (0, 20, None):
        one = make_blocks(CSR(X.data, X.indices, X.indptr, X.shape), 5, 1, n_hot=n_hot)
        four = make_blocks(CSR(X.data, X.indices, X.indptr, X.shape), 5, 4, n_hot=n_hot)
        assert n_hot is None or one.hot_cols.shape[0] == n_hot
        for name in one._fields:
            if name != "col_split":
                np.testing.assert_array_equal(getattr(one, name), getattr(four, name))


def _fake_cache_dir(root, caches):
    """A sysfs ``cpu0/cache`` directory holding ``caches``: (type, level, size, shared_cpu_list)."""
    for i, (kind, level, size, shared) in enumerate(caches):
        entry = root / f"index{i}"
        entry.mkdir()
        for field, value in (("type", kind), ("level", level), ("size", size),
                             ("shared_cpu_list", shared)):
            (entry / field).write_text(f"{value}\n")
    return str(root)


@pytest.mark.parametrize("l2, l3, shared, expected", [
    ("512K", "32768K", "0-1", 4 << 20),        # 16 MiB of L3 per CPU: the largest block
    ("512K", "32768K", "0-3", 2 << 20),        # 8 MiB per CPU: a quarter of it
    ("512K", "32768K", "0-7,64-71", 1 << 20),  # 2 MiB per CPU (16 CPUs): the smallest block
    ("2048K", "491520K", "0-1", 1 << 20),      # half of a 2 MiB L2
    ("16M", "491520K", "0-1", 4 << 20),        # (at most the largest block)
])
def test_block_bytes_follow_the_caches(tmp_path, l2, l3, shared, expected):
    cache_dir = _fake_cache_dir(tmp_path, [("Data", 1, "32K", "0"), ("Instruction", 1, "32K", "0"),
                                           ("Unified", 2, l2, "0"), ("Unified", 3, l3, shared)])
    caches = cache_bytes_per_cpu(cache_dir)
    assert caches[1] == 32 << 10
    assert block_bytes_for(caches) == expected


def test_block_bytes_without_a_readable_cache(tmp_path):
    assert cache_bytes_per_cpu(str(tmp_path / "missing")) == {}
    assert cache_bytes_per_cpu(_fake_cache_dir(tmp_path, [("Unified", 2, "lots", "0")])) == {}
    assert block_bytes_for({}) == MAX_BLOCK_BYTES
    only_code = tmp_path / "code"  # no data cache to size blocks by
    only_code.mkdir()
    assert cache_bytes_per_cpu(_fake_cache_dir(only_code, [("Instruction", 1, "32K", "0")])) == {}


def test_block_bytes_environment_variable_wins():
    env = dict(os.environ, FASTEM_BLOCK_BYTES="123456")
    out = subprocess.run([sys.executable, "-c", "from fastem._config import BLOCK_BYTES; "
                          "print(BLOCK_BYTES)"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "123456"


def test_rows_per_block_out_of_range():
    c = Csr(ROWS, N_FEATURES)
    for bad in (0, MAX_ROWS_PER_BLOCK + 1):
        with pytest.raises(ValueError, match="rows_per_block"):
            make_blocks(as_csr(c), 3, 1, rows_per_block=bad)


def _pass(c, blocks, weight, labels, label_bounds, log_prior, log_prob):
    counts = np.full(log_prob.shape, np.nan)
    class_counts = np.full(log_prob.shape[1], np.nan)
    obj = blocked_em_pass(blocks.rows_per_block, c.shape[0], *blocks[1:], weight, labels,
                          label_bounds, log_prior, log_prob, counts, class_counts)
    return obj, counts, class_counts


def test_largest_block_row_offsets():
    """Rows 0..65535 of a full-size block keep their offsets in uint16."""
    n = MAX_ROWS_PER_BLOCK + 40
    rows = [[] for _ in range(n)]
    rows[0] = [(0, 1.0)]
    rows[MAX_ROWS_PER_BLOCK - 1] = [(1, 2.0), (0, 1.0)]
    rows[MAX_ROWS_PER_BLOCK] = [(2, 3.0)]
    rows[n - 1] = [(1, 1.0)]
    c = Csr(rows, 3)
    log_prior, log_prob = np.log([0.5, 0.5]), np.log(np.array([[0.2, 0.5], [0.3, 0.25],
                                                               [0.5, 0.25]]))
    blocks = make_blocks(as_csr(c), 2, 1, rows_per_block=MAX_ROWS_PER_BLOCK, n_hot=0)
    check_copy(blocks, c, MAX_ROWS_PER_BLOCK, 0)
    weight = np.ones(n)
    labels = np.full(n, -1, dtype=np.int64)
    label_bounds = np.array([0, 2], dtype=np.int64)
    got = _pass(c, blocks, weight, labels, label_bounds, log_prior, log_prob)
    want = ref_em_pass(c.X, weight, labels, label_bounds, log_prior, log_prob)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


@pytest.mark.parametrize("values, exact", [
    ([], True), ([0.0, 0.5, 3.0, 65504.0, 2.0 ** -149, 2.0 ** 24], True),
    ([2.0 ** 24 + 1], False),  # needs 25 bits
    ([0.1], False), ([1e-40], False),  # a float32 subnormal near it is not it
    ([1e-46], False), ([3.5e38], False),  # below and above float32's range
])
def test_exact_in_float32(values, exact):
    assert exact_in_float32(np.array(values, dtype=np.float64)) is exact
    # the one value that is not exact anywhere in a long array: first, at the
    # ends of the first chunk, inside the second one, last
    for position in (0, 4095, 4096, 5000, 9999):
        long = np.ones(10_000)
        long[position] = values[0] if values else 1.0
        assert exact_in_float32(long) is exact


def test_values_that_are_not_float32_values_stay_float64():
    """Counts are copied in 4 bytes; a float64 matrix with a value float32
    cannot hold (tf-idf weights, say) keeps float64, and the pass on either
    copy matches the reference."""
    rng = np.random.default_rng(11)
    counts = random_csr(rng, 120, 40, 0.2, np.float64, np.int32)
    weighted = random_csr(rng, 120, 40, 0.2, np.float64, np.int32)
    weighted.data *= 0.1  # the arrays the copy reads
    k = 3
    log_prob = np.log(rng.dirichlet(np.ones(40), size=k).T).copy()
    log_prior = np.log(np.full(k, 1 / k))
    weight = np.ones(120)
    labels = np.full(120, -1, dtype=np.int64)
    label_bounds = np.arange(k + 1, dtype=np.int64)
    for c, stored in ((counts, np.float32), (weighted, np.float64)):
        blocks = make_blocks(as_csr(c), k, 2, rows_per_block=16, n_hot=5)
        assert blocks.ent_val.dtype == stored
        check_copy(blocks, c, 16, 5)
        got = _pass(c, blocks, weight, labels, label_bounds, log_prior, log_prob)
        X = sp.csr_matrix((c.data, c.indices, c.indptr), shape=c.shape)
        want = ref_em_pass(X, weight, labels, label_bounds, log_prior, log_prob)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12)
        # the 4-byte copy of exact values gives the 8-byte copy's pass, to the bit
        wide = blocks._replace(ent_val=blocks.ent_val.astype(np.float64),
                               hot_val=blocks.hot_val.astype(np.float64))
        for g, w in zip(got, _pass(c, wide, weight, labels, label_bounds, log_prior, log_prob)):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("table_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_hot", [0, 5])
def test_pass_is_bitwise_the_same_for_any_thread_count(table_dtype, n_hot):
    """Threads split the M phase by columns, and the hot words' partial sums
    are added in block order, so every count is summed in the same order: 1,
    2 and 3 column ranges, on 1 or 2 threads, agree to the bit."""
    rng = np.random.default_rng(3)
    c = random_csr(rng, 200, 30, 0.2, np.float64, np.int64)
    k = 4
    log_prob = np.ascontiguousarray(np.log(rng.dirichlet(np.ones(30), size=k).T), table_dtype)
    log_prior = np.log(rng.dirichlet(np.ones(k)))
    weight = rng.choice([0.0, 0.5, 1.0], size=200)
    labels = rng.integers(-1, 2, size=200).astype(np.int64)
    label_bounds = np.array([0, 3, 4], dtype=np.int64)
    results = []
    previous = numba.get_num_threads()
    try:
        for n_threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(n_threads)
            for n_ranges in (1, 2, 3):
                blocks = make_blocks(as_csr(c), k, n_ranges, weight, labels, label_bounds,
                                     rows_per_block=16, n_hot=n_hot)
                results.append(_pass(c, blocks, weight, labels, label_bounds, log_prior,
                                     log_prob))
    finally:
        numba.set_num_threads(previous)
    for got in results[1:]:
        for a, b in zip(got, results[0]):
            np.testing.assert_array_equal(a, b)
    # the counts of words in column runs do not depend on the block size
    # either (row order within a column); those of hot words are summed by block
    other_blocks = make_blocks(as_csr(c), k, 2, weight, labels, label_bounds, rows_per_block=7,
                               n_hot=n_hot)
    other = _pass(c, other_blocks, weight, labels, label_bounds, log_prior, log_prob)
    runs = np.ones(30, dtype=bool)
    runs[other_blocks.hot_cols] = False
    assert runs.sum() == 30 - n_hot
    np.testing.assert_array_equal(other[1][runs], results[0][1][runs])
    np.testing.assert_allclose(other[1], results[0][1], rtol=1e-13)
    np.testing.assert_allclose(other[0], results[0][0], rtol=1e-13)
    np.testing.assert_allclose(other[2], results[0][2], rtol=1e-13)


@pytest.mark.parametrize("k", [1, 3, 40])  # 40: the run loops take two column chunks
def test_pass_with_a_float32_table_matches_reference(k, n_hot):
    """With a float32 word table the M phase reads the responsibilities in
    float32, written over the block's float64 buffer: the counts are those of
    the rounded responsibilities (not of the float64 ones, which differ by
    ~1e-8), the objective and class counts those of the float64 ones, for
    words in column runs and hot words. Blocks of 300 rows take several
    chunks of posteriors."""
    rng = np.random.default_rng(21)
    n = 700
    c = random_csr(rng, n, 50, 0.15, np.float64, np.int32)
    log_prob = np.ascontiguousarray(np.log(rng.dirichlet(np.full(50, 0.3), size=k).T),
                                    np.float32)
    log_prior = np.log(rng.dirichlet(np.ones(k)))
    weight = rng.choice([0.0, 0.3, 1.0, 2.5], size=n)
    if k > 2:
        labels = rng.integers(-1, 3, size=n).astype(np.int64)
        label_bounds = np.array([0, 1, 2, k], dtype=np.int64)  # label 2: components 2..k-1
    else:
        labels = rng.integers(-1, 1, size=n).astype(np.int64)
        label_bounds = np.array([0, k], dtype=np.int64)
    X = sp.csr_matrix((c.data, c.indices, c.indptr), shape=c.shape)
    blocks = make_blocks(as_csr(c), k, 2, weight, labels, label_bounds, rows_per_block=300,
                         n_hot=n_hot)
    got = _pass(c, blocks, weight, labels, label_bounds, log_prior, log_prob)
    want = ref_em_pass(X, weight, labels, label_bounds, log_prior, log_prob, np.float32)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300)
    unrounded = ref_em_pass(X, weight, labels, label_bounds, log_prior, log_prob)[1]
    np.testing.assert_allclose(got[1], unrounded, rtol=1e-6)
    assert not np.allclose(got[1], unrounded, rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_hot", [0, 1, 2])
def test_float32_responsibilities_below_the_smallest_normal_count_as_zero(n_hot):
    """A float32 subnormal costs microcode assists on some CPUs: the pass with
    a float32 table stores such a responsibility as 0. One just above
    float32's smallest normal is kept, and float64 keeps both."""
    # row 0: word 0 only, where component 1 is e^-92 (1e-40) times less likely;
    # row 1: word 1 only, e^-85 (1.2e-37)
    c = Csr([[(0, 1.0)], [(1, 1.0)]], 2)
    log_prior = np.log([0.5, 0.5])
    weight, labels = np.ones(2), np.full(2, -1, dtype=np.int64)
    label_bounds = np.array([0, 2], dtype=np.int64)
    blocks = make_blocks(as_csr(c), 2, 1, n_hot=n_hot)
    for dtype in (np.float32, np.float64):
        log_prob = np.array([[-1.0, -93.0], [-1.0, -86.0]], dtype=dtype)
        counts = _pass(c, blocks, weight, labels, label_bounds, log_prior, log_prob)[1]
        assert counts[0, 1] == (0.0 if dtype == np.float32 else pytest.approx(np.exp(-92.0)))
        assert counts[1, 1] == pytest.approx(np.exp(-85.0), rel=1e-6)
        assert counts[0, 0] == counts[1, 0] == 1.0


def test_expected_counts_reads_a_fortran_ordered_table():
    # the pass's vector loops need C-ordered rows: other layouts are copied first
    rng = np.random.default_rng(7)
    X = check_csr(sp.random(40, 30, density=0.2, format="csr", random_state=rng) * 5)
    log_prob = np.log(rng.dirichlet(np.ones(30), size=3).T)
    log_prior = np.log(np.full(3, 1 / 3))
    data = make_em_data(X, 3, 2)
    want = expected_counts(data, log_prior, np.ascontiguousarray(log_prob))
    got = expected_counts(data, log_prior, np.asfortranarray(log_prob))
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1][0], want[1][0])
