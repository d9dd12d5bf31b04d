import os
import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastem._kernels.multinomial import smoothed_log_prob

sys.path.insert(0, os.path.dirname(__file__))
from reference import ref_smoothed_log_prob  # noqa: E402


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
        dot, total = smoothed_log_prob(table, alpha, out)
        assert_allclose(out, want, rtol=1e-12, atol=1e-12)
        # every column is a distribution (the empty one uniform: 40000 times
        # exp(-log 40000) sums to 1 + 1e-12 even from the reference)
        assert_allclose(np.exp(out).sum(axis=0), 1.0, rtol=1e-11)
        # the sums the objective needs: zero counts contribute 0 even against -inf
        counted = counts > 0
        assert_allclose(dot, np.sum(counts[counted] * want[counted]), rtol=1e-12)
        assert_allclose(total, want.sum(), rtol=1e-12)


def test_smoothed_log_prob_in_place_and_thread_independent():
    rng = np.random.default_rng(0)
    counts = rng.random((300, 4))
    expected = ref_smoothed_log_prob(counts, 0.5)
    results = []
    previous = numba.get_num_threads()
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            out = counts.copy()
            smoothed_log_prob(out, 0.5, out)  # in place
            results.append(out)
    finally:
        numba.set_num_threads(previous)
    assert_allclose(results[0], expected, rtol=1e-12)
    # fixed summation blocks: identical bits whatever the thread count
    assert np.array_equal(results[0], results[1])
