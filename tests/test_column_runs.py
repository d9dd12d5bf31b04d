"""The vector loops over the column runs of the blocked pass
(``column_gather`` / ``column_scatter`` / ``column_scatter_cached`` over one
run, ``block_scatter`` and ``block_scatter_ahead`` over a block's runs, in
``fastem._kernels._intrinsics``) against the entry-by-entry loop in
``tests/reference.py``."""
import numba
import numpy as np
import pytest
from numba import njit

from fastem._config import JIT
from fastem._kernels._intrinsics import (RUN_LANES, RUN_WIDTH, _pieces, block_scatter,
                                         block_scatter_ahead, column_gather, column_scatter,
                                         column_scatter_cached)

from .reference import ref_column_run


@njit(**JIT)
def _gather(table, w, buf, ent_row, ent_val, start, stop, k0):
    column_gather(table, w, buf, ent_row, ent_val, start, stop, k0)


@njit(**JIT)
def _scatter(table, w, buf, ent_row, ent_val, start, stop, k0):
    column_scatter(table, w, buf, ent_row, ent_val, start, stop, k0)


@njit(**JIT)
def _scatter_cached(table, w, buf, ent_row, ent_val, start, stop, k0):
    column_scatter_cached(table, w, buf, ent_row, ent_val, start, stop, k0)


@njit(**JIT)
def _block_scatter(table, cols, d, buf, ent_row, ent_val, start, stop, k0, ahead=False):
    if ahead:
        block_scatter_ahead(table, cols, d, buf, ent_row, ent_val, start, stop, k0)
    else:
        block_scatter(table, cols, d, buf, ent_row, ent_val, start, stop, k0)


def _guarded(rng, n_rows, n_cols, dtype):
    """A C-ordered [n_rows, n_cols] view at the start of a longer buffer, and
    that buffer (its tail is a sentinel no call may write)."""
    whole = rng.normal(size=n_rows * n_cols + 2 * RUN_WIDTH).astype(dtype)
    return whole[:n_rows * n_cols].reshape(n_rows, n_cols), whole


def _case(seed, n_components, table_dtype, val_dtype, row_dtype, n_entries=9):
    rng = np.random.default_rng(seed)
    table, table_whole = _guarded(rng, 6, n_components, table_dtype)
    buf, buf_whole = _guarded(rng, 11, n_components, np.float64)
    # the last row of each array takes part: the tail pieces must stop at the row's end
    ent_row = np.sort(rng.choice(11, size=n_entries, replace=False)).astype(row_dtype)
    ent_row[-1] = 10
    ent_val = rng.uniform(0.5, 4.0, n_entries).astype(val_dtype)
    return table, table_whole, buf, buf_whole, ent_row, ent_val


KS = [1, 2, 3, 4, 5, 7, 8, 16, 20, RUN_WIDTH - 1, RUN_WIDTH, RUN_WIDTH + 1, 50, 100]


@pytest.mark.parametrize("scatter", [False, True], ids=["gather", "scatter"])
@pytest.mark.parametrize("n_components", KS)
@pytest.mark.parametrize("val_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("row_dtype", [np.uint16, np.int64])
def test_matches_reference_on_every_column_block(scatter, n_components, val_dtype, row_dtype):
    table, table_whole, buf, buf_whole, ent_row, ent_val = _case(
        n_components, n_components, np.float64, val_dtype, row_dtype)
    w, start, stop = 5, 1, ent_row.shape[0]  # the run leaves out entry 0
    want_table, want_buf = table.copy(), buf.copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        want_table, want_buf = ref_column_run(want_table, w, want_buf, ent_row, ent_val, start,
                                              stop, k0, RUN_WIDTH, scatter)
    table_tail, buf_tail = table_whole[table.size:].copy(), buf_whole[buf.size:].copy()
    kernel = _scatter if scatter else _gather
    for k0 in range(0, n_components, RUN_WIDTH):
        kernel(table, w, buf, ent_row, ent_val, start, stop, k0)
    np.testing.assert_allclose(table, want_table, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(buf, want_buf, rtol=1e-14, atol=1e-14)
    # nothing written past the arrays' ends
    np.testing.assert_array_equal(table_whole[table.size:], table_tail)
    np.testing.assert_array_equal(buf_whole[buf.size:], buf_tail)


@pytest.mark.parametrize("n_components", KS)
@pytest.mark.parametrize("table_dtype", [np.float64, np.float32])
def test_scatter_without_buffer_hints_is_the_same_scatter(n_components, table_dtype):
    """``column_scatter_cached`` (no buffer-row prefetch) against
    ``column_scatter``: the same sums, bit for bit, and nothing past the end."""
    table, _, buf, buf_whole, ent_row, ent_val = _case(n_components + 100, n_components,
                                                       table_dtype, np.float32, np.uint16)
    before, want = buf.copy(), buf.copy()
    buf_tail = buf_whole[buf.size:].copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        _scatter(table, 2, want, ent_row, ent_val, 0, ent_row.shape[0], k0)
        _scatter_cached(table, 2, buf, ent_row, ent_val, 0, ent_row.shape[0], k0)
    assert not np.array_equal(buf, before)
    np.testing.assert_array_equal(buf, want)
    np.testing.assert_array_equal(buf_whole[buf.size:], buf_tail)


@pytest.mark.parametrize("scatter", [False, True], ids=["gather", "scatter"])
def test_one_column_block_touches_only_its_columns_and_rows(scatter):
    n_components = 2 * RUN_WIDTH + 3
    table, _, buf, _, ent_row, ent_val = _case(1, n_components, np.float64, np.float64, np.uint16)
    before_table, before_buf = table.copy(), buf.copy()
    k0 = RUN_WIDTH
    kernel = _scatter if scatter else _gather
    kernel(table, 2, buf, ent_row, ent_val, 0, ent_row.shape[0], k0)
    changed_table = np.argwhere(table != before_table)
    changed_buf = np.argwhere(buf != before_buf)
    changed = changed_buf if scatter else changed_table
    assert changed.size, "the call changed nothing"
    assert np.all((changed[:, 1] >= k0) & (changed[:, 1] < 2 * RUN_WIDTH))
    if scatter:
        assert not changed_table.size
        assert set(changed[:, 0]) <= set(ent_row.tolist())
    else:
        assert not changed_buf.size and set(changed[:, 0]) == {2}


def test_scatter_reads_a_float32_table():
    table, _, buf, _, ent_row, ent_val = _case(2, 20, np.float32, np.float64, np.uint16)
    want_table, want_buf = ref_column_run(table, 3, buf, ent_row, ent_val, 0, ent_row.shape[0],
                                          0, RUN_WIDTH, True)
    _scatter(table, 3, buf, ent_row, ent_val, 0, ent_row.shape[0], 0)
    np.testing.assert_allclose(buf, want_buf, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("n_components", KS)
def test_gather_reads_a_float32_buffer(n_components):
    # (the pass's M phase with a float32 table: responsibilities in float32)
    table, table_whole, _, _, ent_row, ent_val = _case(4, n_components, np.float64, np.float32,
                                                      np.uint16)
    buf, buf_whole = _guarded(np.random.default_rng(5), 11, n_components, np.float32)
    buf_before = buf_whole.copy()
    want_table = table.copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        want_table, _ = ref_column_run(want_table, 2, buf.astype(np.float64), ent_row, ent_val,
                                       0, ent_row.shape[0], k0, RUN_WIDTH, False)
    table_tail = table_whole[table.size:].copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        _gather(table, 2, buf, ent_row, ent_val, 0, ent_row.shape[0], k0)
    np.testing.assert_allclose(table, want_table, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(table_whole[table.size:], table_tail)
    np.testing.assert_array_equal(buf_whole, buf_before)


@pytest.mark.parametrize("scatter", [False, True], ids=["gather", "scatter"])
def test_an_empty_run_changes_nothing(scatter):
    table, _, buf, _, ent_row, ent_val = _case(3, 20, np.float64, np.float64, np.uint16)
    before = table.copy(), buf.copy()
    (_scatter if scatter else _gather)(table, 0, buf, ent_row, ent_val, 4, 4, 0)
    np.testing.assert_array_equal(table, before[0])
    np.testing.assert_array_equal(buf, before[1])


@pytest.mark.parametrize("scatter", [False, True], ids=["gather", "scatter"])
def test_sums_in_entry_order_with_one_rounding_per_step(scatter):
    # 1 + 2^-53 twice: summed in order from 1 each step rounds back to 1;
    # an exact (or reordered) sum would give 1 + 2^-52
    n_components = 5
    table = np.ones((1, n_components)) if not scatter else np.full((1, n_components), 2.0 ** -53)
    buf = np.full((2, n_components), 2.0 ** -53) if not scatter else np.ones((2, n_components))
    ent_row = np.array([0, 1, 0], dtype=np.uint16)
    ent_val = np.array([1.0, 1.0, 0.0])
    if scatter:  # two entries on the same buffer row
        ent_row = np.array([0, 0], dtype=np.uint16)
        ent_val = np.array([1.0, 1.0])
    (_scatter if scatter else _gather)(table, 0, buf, ent_row, ent_val, 0, ent_row.shape[0], 0)
    got = buf[0] if scatter else table[0]
    np.testing.assert_array_equal(got, np.ones(n_components))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="typing is Numba's: without JIT there is none")
def test_refuses_arrays_it_cannot_address():
    from numba.core.errors import TypingError
    table = np.zeros((4, 6))
    buf = np.zeros((3, 6))
    rows = np.zeros(2, dtype=np.uint16)
    vals = np.ones(2)
    with pytest.raises(TypingError):
        _gather(np.asfortranarray(table), 0, buf, rows, vals, 0, 2, 0)
    with pytest.raises(TypingError):
        _gather(table.astype(np.float32), 0, buf, rows, vals, 0, 2, 0)
    with pytest.raises(TypingError):  # the array added into is float64
        _scatter(table, 0, buf.astype(np.float32), rows, vals, 0, 2, 0)


@pytest.mark.parametrize("width", range(1, RUN_WIDTH + 1))
def test_pieces_cover_the_row_exactly(width):
    """The accesses of one row cover its columns once each and never reach
    past its end (where the next row starts)."""
    pieces = _pieces(width)
    covered = [offset + lane for offset, lanes in pieces for lane in range(lanes)]
    assert covered == list(range(width))
    assert all(lanes in (RUN_LANES, 2, 1) for _, lanes in pieces)
    assert sum(lanes == 1 for _, lanes in pieces) <= 1


@pytest.mark.parametrize("scatter", [False, True], ids=["gather", "scatter"])
def test_a_run_reads_the_magnitude_of_a_marked_first_value(scatter):
    # the blocked copy stores each run's first value negated (block_scatter's mark)
    table, _, buf, _, ent_row, ent_val = _case(4, 20, np.float64, np.float64, np.uint16)
    marked = ent_val.copy()
    marked[0] = -marked[0]
    kernel = _scatter if scatter else _gather
    want = table.copy(), buf.copy()
    kernel(want[0], 1, want[1], ent_row, ent_val, 0, ent_row.shape[0], 0)
    kernel(table, 1, buf, ent_row, marked, 0, ent_row.shape[0], 0)
    np.testing.assert_array_equal(table, want[0])
    np.testing.assert_array_equal(buf, want[1])


def _block(seed, n_components, table_dtype, val_dtype):
    """A block of runs (lengths 1, 3, 1, 2, 5; rows increasing within a run)
    over a guarded table and buffer: ``(table, table_whole, buf, buf_whole,
    cols, col_ptr, ent_row, ent_val)`` with ``ent_val`` positive."""
    rng = np.random.default_rng(seed)
    table, table_whole = _guarded(rng, 6, n_components, table_dtype)
    buf, buf_whole = _guarded(rng, 11, n_components, np.float64)
    lengths = [1, 3, 1, 2, 5]
    cols = np.array([0, 2, 3, 5, 4], dtype=np.int32)
    col_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ent_row = np.concatenate([np.sort(rng.choice(11, size=n, replace=False))
                              for n in lengths]).astype(np.uint16)
    ent_row[-1] = 10  # the last rows of both arrays take part
    cols[-1] = 5
    ent_val = rng.uniform(0.5, 4.0, col_ptr[-1]).astype(val_dtype)
    return table, table_whole, buf, buf_whole, cols, col_ptr, ent_row, ent_val


@pytest.mark.parametrize("n_components", KS)
@pytest.mark.parametrize("table_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("val_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("first_run", [0, 2])
@pytest.mark.parametrize("ahead", [False, True], ids=["", "ahead"])
def test_block_scatter_matches_the_runs_one_by_one(n_components, table_dtype, val_dtype,
                                                   first_run, ahead):
    table, table_whole, buf, buf_whole, cols, col_ptr, ent_row, ent_val = _block(
        n_components, n_components, table_dtype, val_dtype)
    marked = ent_val.copy()
    marked[col_ptr[:-1]] *= -1
    runs = range(first_run, cols.shape[0])
    want_buf = buf.copy()
    by_runs = buf.copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        for d in runs:
            _, want_buf = ref_column_run(table, cols[d], want_buf, ent_row, ent_val, col_ptr[d],
                                         col_ptr[d + 1], k0, RUN_WIDTH, True)
            _scatter(table, cols[d], by_runs, ent_row, marked, col_ptr[d], col_ptr[d + 1], k0)
    table_before, buf_tail = table_whole.copy(), buf_whole[buf.size:].copy()
    for k0 in range(0, n_components, RUN_WIDTH):
        _block_scatter(table, cols, first_run, buf, ent_row, marked, col_ptr[first_run],
                       col_ptr[-1], k0, ahead)
    np.testing.assert_allclose(buf, want_buf, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(buf, by_runs)  # the same sums, bit for bit
    np.testing.assert_array_equal(table_whole, table_before)
    np.testing.assert_array_equal(buf_whole[buf.size:], buf_tail)  # nothing past the end


@pytest.mark.parametrize("ahead", [False, True], ids=["", "ahead"])
def test_block_scatter_counts_a_negative_zero_as_a_run_start(ahead):
    """Runs start where the sign bit is set, not where the value is below 0:
    a marked subnormal that the CPU reads as zero (DAZ) still starts its run,
    so the entries after it read the right column. An empty range changes
    nothing."""
    table = np.arange(12.0).reshape(3, 4)
    buf = np.zeros((2, 4))
    cols = np.array([0, 2], dtype=np.int32)
    ent_row = np.array([0, 1, 0, 1], dtype=np.uint16)
    ent_val = np.array([-1.0, 2.0, -0.0, 3.0])  # runs: entries 0-1 (column 0), 2-3 (column 2)
    _block_scatter(table, cols, 0, buf, ent_row, ent_val, 0, 4, 0, ahead)
    np.testing.assert_array_equal(buf, [table[0], 2.0 * table[0] + 3.0 * table[2]])
    _block_scatter(table, cols, 0, buf, ent_row, ent_val, 2, 2, 0, ahead)
    np.testing.assert_array_equal(buf, [table[0], 2.0 * table[0] + 3.0 * table[2]])
