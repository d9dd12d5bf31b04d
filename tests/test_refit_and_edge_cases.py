"""Refits, warm starts and input edge cases found in review."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

from fastem import BernoulliMixture, MultinomialMixture, NaiveBayesEM
from fastem.datasets import make_corpus


@pytest.fixture(scope="module")
def two_corpora():
    X1, y1, _ = make_corpus(300, 40, 3, 30, random_state=0)
    X2, y2, _ = make_corpus(300, 40, 3, 30, random_state=1)
    return X1, y1, X2, y2


def test_warm_started_supervised_refit_learns_the_new_data(two_corpora):
    X1, y1, X2, y2 = two_corpora
    model = NaiveBayesEM(warm_start=True).fit(X1, y1)
    model.fit(X2, y2)
    assert_allclose(model.feature_log_prob_, MultinomialNB().fit(X2, y2).feature_log_prob_,
                    atol=1e-10)


def test_extra_classes_are_never_named_minus_one(two_corpora):
    X1, y1, _, _ = two_corpora
    y = np.where(y1 == 0, -5, -3)
    y[::3] = -1
    model = NaiveBayesEM(n_classes=4).fit(X1, y)
    assert -1 not in model.classes_ and list(model.classes_[:2]) == [-5, -3]


def test_zero_class_prior_for_a_labelled_class_is_rejected(two_corpora):
    X1, y1, _, _ = two_corpora
    with pytest.raises(ValueError, match="class_prior gives probability 0 to class 2"):
        NaiveBayesEM(class_prior=[0.5, 0.5, 0.0]).fit(X1, y1)


@pytest.mark.parametrize("model", [NaiveBayesEM(), MultinomialMixture(n_components=2, random_state=0),
                                   BernoulliMixture(n_components=2, random_state=0)])
def test_a_failed_refit_leaves_the_fitted_model_usable(two_corpora, model):
    X1, y1, _, _ = two_corpora
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X1, y1)
    expected = model.predict(X1)
    bad = X1.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y1)
    assert np.array_equal(model.predict(X1), expected)


def test_n_jobs_zero_is_rejected(two_corpora):
    X1, y1, _, _ = two_corpora
    with pytest.raises(ValueError, match="n_jobs == 0"):
        NaiveBayesEM(n_jobs=0).fit(X1, y1)


def test_float16_and_non_contiguous_input(two_corpora):
    X1, y1, _, _ = two_corpora
    expected = NaiveBayesEM().fit(X1, y1).predict_log_proba(X1)
    dense16 = X1.toarray().astype(np.float16)  # small counts are exact in float16
    assert_allclose(NaiveBayesEM().fit(dense16, y1).predict_log_proba(X1), expected, atol=1e-10)
    strided = sp.csr_matrix((np.repeat(X1.data, 2)[::2], X1.indices, X1.indptr), shape=X1.shape)
    assert not strided.data.flags.c_contiguous
    assert_allclose(NaiveBayesEM().fit(strided, y1).predict_log_proba(X1), expected, atol=1e-10)


def test_one_dimensional_sparse_input_is_rejected():
    with pytest.raises(ValueError, match="2-D"):
        NaiveBayesEM().fit(sp.coo_array(np.ones(5)), [0, 1, 0, 1, 0])


def test_progress_prints_only_fits_slower_than_the_delay():
    import io

    from fastem._base import progress

    X, _, _ = make_corpus(200, 50, 3, 30, random_state=0)
    for delay, expect_lines in ((0.0, True), (3600.0, False)):
        stream = io.StringIO()
        with progress(delay, stream):
            model = NaiveBayesEM(n_classes=3, max_iter=5, tol=0, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
        lines = stream.getvalue().splitlines()
        if expect_lines:
            assert lines[0].startswith("Initialization 0: objective")
            assert lines[-1] == (f"Initialization 0 did not converge after 5 iterations: "
                                 f"objective {model.lower_bound_:.10g}")
        else:
            assert lines == []
    # verbose estimators print to stdout as before, not to the progress stream
    stream = io.StringIO()
    with progress(0.0, stream), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NaiveBayesEM(n_classes=3, max_iter=2, tol=0, verbose=1).fit(X)
    assert stream.getvalue() == ""


@pytest.mark.parametrize("make, y_given, name", [
    # models saved before NaiveBayesEM kept sum(counts * log_prob) and sum(log_prob)
    (lambda: NaiveBayesEM(alpha=0.5, max_iter=3, tol=0, warm_start=True), True, "_log_prob_sums"),
    # models saved before MultinomialMixture kept sum(log_prob)
    (lambda: MultinomialMixture(3, alpha=0.5, max_iter=3, tol=0, warm_start=True, random_state=0),
     False, "_log_prob_sum"),
])
def test_a_model_pickled_without_its_table_sums_refits_warm(make, y_given, name):
    X, y, _ = make_corpus(300, 60, 3, 30, random_state=1)
    y_partial = np.where(np.arange(300) < 30, y, -1) if y_given else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make().fit(X, y_partial)
    state = model.__getstate__()
    expected = state.pop(name)
    old = type(model).__new__(type(model))
    old.__setstate__(state)
    assert_allclose(getattr(old, name), expected, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        old.fit(X, y_partial)  # warm start reads the sums
    assert old.n_iter_ == 3


@pytest.mark.parametrize("init", ["random", "kmeans++", "random_from_data"])
@pytest.mark.parametrize("max_iter", [0, 3])
def test_multinomial_mixture_keeps_the_sum_of_its_table(init, max_iter):
    """The Dirichlet prior of the objective reads the sum of log_prob kept with
    the table (from the M-step's pass, or summed once at initialisation):
    it must be the table's sum, for the returned parameters of every init."""
    X, _, _ = make_corpus(300, 60, 3, 30, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MultinomialMixture(3, alpha=0.5, init_params=init, max_iter=max_iter, tol=0,
                                   n_init=2, random_state=0).fit(X)
    assert_allclose(model._log_prob_sum, model._log_prob.sum(dtype=np.float64), rtol=1e-12)
    # the objective is the returned model's, prior included
    log_norm = model.score_samples(X)
    prior = 0.5 * model._log_prob.sum(dtype=np.float64)
    assert_allclose(model.lower_bound_, (log_norm.sum() + prior) / X.shape[0], rtol=1e-10)
