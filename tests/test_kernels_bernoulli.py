import os
import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastem._kernels.bernoulli import bernoulli_means, bernoulli_tables

sys.path.insert(0, os.path.dirname(__file__))
from reference import ref_bernoulli_means, ref_bernoulli_tables  # noqa: E402


# n_threads comes from conftest.py


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (50, 5), (1000, 20), (40000, 2), (5000, 33),
                                   (5, 2500)])
def test_bernoulli_tables_match_reference(shape, n_threads):
    rng = np.random.default_rng(shape[0])
    mean = rng.uniform(0.0, 1.0, size=shape)
    mean[0, 0] = 1e-10  # the clip bounds of the M-step
    mean[-1, -1] = 1.0 - 1e-10
    mean[1::4] = rng.uniform(0.25, 0.75, size=mean[1::4].shape)  # where log(1 - x) changes way
    want_odds, want_complement, want_sum = ref_bernoulli_tables(mean)
    log_odds = np.empty_like(mean)
    log_complement, sum_log_mean = bernoulli_tables(mean, log_odds)
    assert_allclose(log_odds, want_odds, rtol=1e-14, atol=1e-14)
    assert_allclose(log_complement, want_complement, rtol=1e-13)
    assert_allclose(sum_log_mean, want_sum, rtol=1e-13)


def test_bernoulli_tables_thread_independent():
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.0, 1.0, size=(20000, 7))
    results = []
    previous = numba.get_num_threads()
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            log_odds = np.empty_like(mean)
            results.append((log_odds, *bernoulli_tables(mean, log_odds)))
    finally:
        numba.set_num_threads(previous)
    # fixed summation blocks: identical bits whatever the thread count
    assert all(np.array_equal(a, b) for a, b in zip(results[0], results[1]))


def test_bernoulli_tables_at_zero_and_one():
    mean = np.array([[0.0, 1.0], [0.5, 0.5]])
    log_odds = np.empty_like(mean)
    with np.errstate(invalid="ignore"):
        log_complement, sum_log_mean = bernoulli_tables(mean, log_odds)
    assert log_odds[0, 0] == -np.inf and log_odds[0, 1] == np.inf and log_odds[1, 0] == 0.0
    assert log_complement[1] == -np.inf and sum_log_mean == -np.inf


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (1000, 20), (40000, 2), (5000, 33), (5, 2500)])
@pytest.mark.parametrize("a, b", [(1.0, 1.0), (2.0, 2.0), (1.5, 3.0)])
def test_bernoulli_means_match_reference(shape, a, b, n_threads):
    rng = np.random.default_rng(shape[0] + shape[1])
    class_counts = rng.uniform(0.0, 50.0, size=shape[1])
    counts = rng.uniform(0.0, 1.0, size=shape) * class_counts  # S <= N_k
    counts[0] = 0.0  # clipped at eps under maximum likelihood
    counts[-1] = class_counts  # and at 1 - eps
    if shape[1] > 1:
        class_counts[1] = 0.0  # an empty component: 0.5 under maximum likelihood
        counts[:, 1] = 0.0
    want = ref_bernoulli_means(counts, class_counts, a, b, 1e-10)
    out = np.empty_like(counts)
    bernoulli_means(counts, class_counts, a, b, 1e-10, out)
    assert_allclose(out, want, rtol=3e-16, atol=0)  # (one ulp: a product with 1 / N_k)
    in_place = counts.copy()
    bernoulli_means(in_place, class_counts, a, b, 1e-10, in_place)
    np.testing.assert_array_equal(in_place, out)
    if a == b == 1.0 and shape[1] > 1:
        assert np.all(out[:, 1] == 0.5) and out.min() == 1e-10 and out.max() == 1.0 - 1e-10
