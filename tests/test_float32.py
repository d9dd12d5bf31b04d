"""``dtype=np.float32``: the word log-probability table in single precision.

The E-step reads that table once per non-zero, so float32 halves its memory
traffic, and the M-step reads the responsibilities in float32; counts and
sums stay float64. Results must agree with the float64
fit to single precision, predictions must match, and EM must still never
lower its objective (up to float32 rounding of the parameters).
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

import fastem._base
from fastem import MultinomialMixture, NaiveBayesEM
from fastem.datasets import make_corpus


@pytest.fixture(autouse=True, params=["hot", "runs"])
def hot_words(request, monkeypatch):
    """Every test twice: with the default hot words (every word of this small
    corpus) and with none (every word in column runs)."""
    if request.param == "runs":
        monkeypatch.setattr(fastem._base, "HOT_TABLE_BYTES", 0)


@pytest.fixture(scope="module")
def corpus():
    X, y, _ = make_corpus(2000, 400, 4, 40, random_state=3)
    return X, y


def _pair(cls, X, y=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return (cls(**params).fit(X, y), cls(**params, dtype=np.float32).fit(X, y))


def _check_pair(double, single, X, rtol=1e-5):
    assert single.feature_log_prob_.dtype == np.float32
    assert double.feature_log_prob_.dtype == np.float64
    assert_allclose(single.feature_log_prob_, double.feature_log_prob_, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(single.predict(X), double.predict(X))
    assert_allclose(single.lower_bound_, double.lower_bound_, rtol=1e-6)
    assert_allclose(single.score_samples(X), double.score_samples(X), rtol=rtol)
    # EM never lowers the objective, up to the rounding of a float32 table
    bounds = single.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-6 * np.abs(bounds[:-1]))


# Two components per class: how a class splits is weakly determined, so
# EM amplifies the float32 rounding over the iterations (to ~2e-4 here).
@pytest.mark.parametrize("per_class, rtol", [(1, 1e-5), (2, 1e-3)])
def test_naive_bayes_semi_supervised(corpus, per_class, rtol):
    X, y = corpus
    y_partial = np.where(np.arange(y.size) < 80, y, -1)
    double, single = _pair(NaiveBayesEM, X, y_partial, alpha=0.1, random_state=0,
                           n_components_per_class=per_class, tol=0, max_iter=15)
    _check_pair(double, single, X, rtol)


def test_naive_bayes_supervised_is_multinomial_nb_rounded(corpus):
    X, y = corpus
    single = NaiveBayesEM(alpha=0.5, dtype=np.float32).fit(X, y)
    reference = MultinomialNB(alpha=0.5).fit(X, y)
    assert_allclose(single.feature_log_prob_, reference.feature_log_prob_.astype(np.float32),
                    rtol=0, atol=0)
    assert_allclose(single.class_log_prior_, reference.class_log_prior_, rtol=1e-12)


def test_multinomial_mixture(corpus):
    X, _ = corpus
    double, single = _pair(MultinomialMixture, X, n_components=4, random_state=0, tol=0,
                           max_iter=15)
    _check_pair(double, single, X)


@pytest.mark.parametrize("cls", [NaiveBayesEM, MultinomialMixture])
@pytest.mark.parametrize("dtype", [np.float16, np.int64, "foo", None, object])
def test_other_dtypes_are_rejected(corpus, cls, dtype):
    X, y = corpus
    with pytest.raises(ValueError, match="'dtype' parameter of .* must be np.float64 or np.float32"):
        cls(dtype=dtype).fit(X, y)


def test_string_names_are_accepted(corpus):
    X, y = corpus
    assert NaiveBayesEM(dtype="float32").fit(X, y).feature_log_prob_.dtype == np.float32
