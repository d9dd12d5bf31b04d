import os
import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastem._kernels.multinomial import capped_kl_costs, smoothed_log_prob

sys.path.insert(0, os.path.dirname(__file__))
from reference import ref_capped_kl_costs, ref_smoothed_log_prob  # noqa: E402


# n_threads comes from conftest.py


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (50, 5), (1000, 20), (40000, 2), (5000, 33),
                                   (5, 2500)])
def test_smoothed_log_prob_matches_reference(shape, alpha, n_threads):
    rng = np.random.default_rng(shape[0])
    counts = rng.gamma(0.3, 2.0, size=shape) * (rng.random(shape) < 0.6)
    counts[:, 0] = 0.0  # an empty column
    counts[1::3] = 0.0  # words never counted (their rows are made once)
    want = ref_smoothed_log_prob(counts, alpha)
    # the same table stored transposed ([K, n_features], read as an F-ordered view)
    for table in (counts, np.ascontiguousarray(counts.T).T):
        out = np.empty_like(counts, order="C")
        dot, total = smoothed_log_prob(table, alpha, out, counts.shape[0])
        assert_allclose(out, want, rtol=1e-12, atol=1e-12)
        # every column is a distribution (the empty one uniform: 40000 times
        # exp(-log 40000) sums to 1 + 1e-12 even from the reference)
        assert_allclose(np.exp(out).sum(axis=0), 1.0, rtol=1e-11)
        # the sums the objective needs: zero counts contribute 0 even against -inf
        counted = counts > 0
        assert_allclose(dot, np.sum(counts[counted] * want[counted]), rtol=1e-12)
        assert_allclose(total, want.sum(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(300, 4), (20000, 7)])  # one chunk of rows a block, several
def test_smoothed_log_prob_in_place_and_thread_independent(shape):
    rng = np.random.default_rng(0)
    counts = rng.random(shape) * (rng.random(shape) < 0.7)
    expected = ref_smoothed_log_prob(counts, 0.5)
    results = []
    previous = numba.get_num_threads()
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            out = counts.copy()
            sums = smoothed_log_prob(out, 0.5, out, out.shape[0])  # in place
            results.append((out, sums))
    finally:
        numba.set_num_threads(previous)
    assert_allclose(results[0][0], expected, rtol=1e-12)
    # the sums read each count before its value overwrites it
    counted = counts > 0
    assert_allclose(results[0][1], (np.sum(counts[counted] * expected[counted]), expected.sum()),
                    rtol=1e-12)
    # fixed summation blocks: identical bits whatever the thread count
    assert np.array_equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
@pytest.mark.parametrize("dtype, in_place", [(np.float64, False), (np.float32, False),
                                             (np.float64, True)])
def test_rows_without_counts_get_the_values_of_zero_counts(alpha, dtype, in_place):
    """A word with no count at all must hold, to the bit, what a zero count
    gets in a row that has counts (-0.0 counts too), for float32 tables and in
    place as well (the row of the words not stored is made from those values)."""
    rng = np.random.default_rng(5)
    counts = rng.gamma(0.3, 2.0, size=(3000, 6)) * (rng.random((3000, 6)) < 0.5)
    counts[::4] = 0.0
    counts[1::8] = -0.0
    counts[:, 1] = 0.0  # an empty column (uniform when alpha == 0)
    want = ref_smoothed_log_prob(np.abs(counts), alpha)
    table = counts.copy()
    out = table if in_place else np.empty(counts.shape, dtype=dtype)
    smoothed_log_prob(table, alpha, out, counts.shape[0])
    assert_allclose(out, want.astype(dtype), rtol=1e-12 if dtype == np.float64 else 1e-6)
    empty = ~np.any(counts != 0.0, axis=1)
    assert empty.sum() >= 750
    for k in range(counts.shape[1]):
        zero_in_counted = out[~empty & (counts[:, k] == 0.0), k]
        assert zero_in_counted.size > 0
        assert np.all(out[empty, k] == out[empty, k][0])
        np.testing.assert_array_equal(zero_in_counted, out[empty, k][0])


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_words_not_stored_count_as_rows_without_counts(alpha, dtype, n_threads):
    """``n_features`` beyond the stored rows: the table is the stored rows of
    the full table (words without counts left out), and the sum of the
    values covers every word."""
    rng = np.random.default_rng(7)
    full = rng.gamma(0.3, 2.0, size=(4000, 7)) * (rng.random((4000, 7)) < 0.5)
    full[:, 2] = 0.0  # an empty column (uniform when alpha == 0)
    full[rng.random(4000) < 0.6] = 0.0  # words without counts
    stored = np.flatnonzero(full.any(axis=1))
    stored = np.append(stored, np.flatnonzero(~full.any(axis=1))[:3])  # and a few of them kept
    want = ref_smoothed_log_prob(full, alpha)
    out = np.empty((stored.size, 7), dtype=dtype)
    dot, total = smoothed_log_prob(full[stored], alpha, out, full.shape[0])
    assert_allclose(out, want[stored].astype(dtype), rtol=1e-12 if dtype == np.float64 else 1e-6)
    full_out = np.empty(full.shape, dtype=dtype)
    full_dot, full_total = smoothed_log_prob(full, alpha, full_out, full.shape[0])
    assert_allclose(dot, full_dot, rtol=1e-12)
    assert_allclose(total, full_total, rtol=1e-12)
    assert_allclose(total, full_out.sum(dtype=np.float64), rtol=1e-12)


@pytest.mark.parametrize("alpha, value", [
    (1.0, -3.0),      # a negative count: count + alpha < 0, NaN in its column
    (1.0, -0.5),      # a negative count whose count + alpha is a positive number
    (0.5, np.inf),    # an infinite count
    (0.5, np.nan),
    (1e-310, 0.0),    # a subnormal alpha: zero counts + alpha are subnormal
])
def test_counts_that_are_not_counts_take_the_general_logs(alpha, value):
    """The logs skip their special cases only when every count + alpha is a
    positive, normal, finite number (``vlog_normal``); anything else gets what
    numpy's log gives (the reference: a NaN count makes its column NaN)."""
    rng = np.random.default_rng(11)
    counts = rng.gamma(0.3, 2.0, size=(3000, 5)) * (rng.random((3000, 5)) < 0.5)
    counts[1234, 3] = value
    with np.errstate(divide="ignore", invalid="ignore"):
        want = ref_smoothed_log_prob(counts, alpha)
    out = np.empty_like(counts)
    smoothed_log_prob(counts, alpha, out, counts.shape[0])
    assert_allclose(out, want, rtol=1e-12, atol=1e-300)
    assert np.array_equal(np.isnan(out), np.isnan(want))


@pytest.mark.parametrize("shape", [(1, 1), (50, 3), (3000, 30), (7, 40)])
def test_capped_kl_costs_match_reference(shape, n_threads):
    rng = np.random.default_rng(shape[0])
    n, c = shape
    jll = -rng.gamma(2.0, 50.0, size=shape)
    neg_entropy = -rng.gamma(2.0, 40.0, size=n)  # some costs dip below 0: clipped
    lengths = rng.integers(0, 100, size=n).astype(float)
    shift = np.where(rng.random(c) < 0.3, np.log1p(-0.5), 0.0)  # empty documents' centres
    cap = np.where(rng.random(n) < 0.5, rng.gamma(2.0, 30.0, size=n), np.inf)
    want, want_sums = ref_capped_kl_costs(jll, neg_entropy, lengths, shift, cap)
    got = jll.copy()
    sums = np.full(c, np.nan)
    capped_kl_costs(got, neg_entropy, lengths, shift, cap, sums)
    assert_allclose(got, want, rtol=1e-14, atol=1e-12)
    assert_allclose(sums, want_sums, rtol=1e-12)
    assert (got == 0).any() or n < 50


def test_capped_kl_costs_thread_independent():
    rng = np.random.default_rng(1)
    jll = -rng.gamma(2.0, 50.0, size=(20000, 30))
    args = (-rng.gamma(2.0, 40.0, size=20000), rng.random(20000) * 100, np.zeros(30),
            np.full(20000, np.inf))
    results = []
    previous = numba.get_num_threads()
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            got, sums = jll.copy(), np.empty(30)
            capped_kl_costs(got, *args, sums)
            results.append((got, sums))
    finally:
        numba.set_num_threads(previous)
    # fixed summation blocks: identical bits whatever the thread count
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
