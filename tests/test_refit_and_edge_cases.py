"""Refits, warm starts and input edge cases found in review."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

from fastem import BernoulliMixture, GaussianMixture, MultinomialMixture, NaiveBayesEM
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


# --- a refused refit, parameters changed after a fit, label dtypes, sparse
# Gaussian input (found in a review of the input handling) -----------------

def _poisson_csr(n_rows, n_cols, seed):
    return sp.csr_matrix(np.random.default_rng(seed).poisson(1.0, (n_rows, n_cols)).astype(float))


@pytest.mark.parametrize("make, bad", [
    (lambda: BernoulliMixture(2, random_state=0), {"beta_prior": (0.5, 0.5)}),
    (lambda: MultinomialMixture(2, random_state=0), {"dtype": "int8"}),
], ids=["bernoulli-beta_prior", "multinomial-dtype"])
def test_a_refused_refit_leaves_the_fitted_model_as_it_was(make, bad):
    X5, X9 = _poisson_csr(20, 5, 0), _poisson_csr(20, 9, 1)
    model = make().fit(X5)
    before = model.score_samples(X5)
    with pytest.raises(ValueError):
        model.set_params(**bad).fit(X9)
    assert model.n_features_in_ == 5
    assert_allclose(model.score_samples(X5), before, rtol=0, atol=0)
    with pytest.raises(ValueError, match="expecting 5 features"):
        model.score_samples(X9)


def test_prediction_refuses_rows_wider_than_the_fitted_tables():
    # a model left inconsistent (n_features_in_ ahead of its tables, as a fit
    # failing midway could leave it) must not hand the kernel a column it
    # would read past the table's end
    X5 = _poisson_csr(20, 5, 0)
    wide = sp.csr_matrix((np.ones(2), ([0, 1], [7, 3_999_999])), shape=(2, 4_000_000))
    for model in (BernoulliMixture(2, random_state=0), MultinomialMixture(2, random_state=0),
                  NaiveBayesEM(n_classes=2, random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X5)
        model.n_features_in_ = wide.shape[1]
        with pytest.raises(ValueError, match="the fitted parameters have 5"):
            model.predict(wide)


def test_gaussian_refit_with_too_few_rows_does_not_predict_from_stale_tables():
    rng = np.random.default_rng(0)
    model = GaussianMixture(3, covariance_type="diag", random_state=0).fit(rng.normal(size=(50, 2)))
    with pytest.raises(ValueError, match="n_components=3 must be <= n_samples=2"):
        model.fit(rng.normal(size=(2, 8)))
    with pytest.raises(ValueError, match="the fitted parameters have 2"):
        model.score_samples(rng.normal(size=(4, 8)))


def test_gaussian_predictions_read_k_from_the_fitted_means():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 5]
    model = GaussianMixture(2, random_state=0).fit(X)
    proba, labels = model.predict_proba(X), model.predict(X)
    model.set_params(n_components=4)  # no refit
    assert_allclose(model.predict_proba(X), proba, rtol=0, atol=0)
    np.testing.assert_array_equal(model.predict(X), labels)


def test_naive_bayes_predictions_read_components_per_class_from_the_fit(two_corpora):
    X1, y1, _, _ = two_corpora
    model = NaiveBayesEM().fit(X1, y1)
    proba = model.predict_proba(X1)
    model.set_params(n_components_per_class=2)  # no refit
    assert_allclose(model.predict_proba(X1), proba, rtol=0, atol=0)


@pytest.mark.parametrize("dtype, labels, extra", [
    (np.uint8, [0, 255], 256), (np.int8, [0, 127], 128), (np.int64, [0, 4], 5),
])
def test_extra_class_names_get_a_dtype_that_holds_them(two_corpora, dtype, labels, extra):
    X1, _, _, _ = two_corpora
    y = np.resize(np.array(labels, dtype=dtype), X1.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NaiveBayesEM(n_classes=3, random_state=0).fit(X1, y)
    assert list(model.classes_) == labels + [extra]
    assert np.can_cast(dtype, model.classes_.dtype)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_gaussian_sparse_input_with_duplicate_entries_is_summed_first(covariance_type):
    D = np.random.default_rng(0).poisson(1.0, (30, 4)).astype(float)
    A = sp.csr_matrix(D)
    # every stored value split into two entries of half the value (a non-canonical CSR)
    rows = np.repeat(np.arange(30), np.diff(A.indptr))
    B = sp.csr_matrix((np.r_[A.data / 2, A.data / 2][np.argsort(np.r_[rows, rows], kind="stable")],
                       np.r_[A.indices, A.indices][np.argsort(np.r_[rows, rows], kind="stable")],
                       np.r_[0, np.cumsum(2 * np.diff(A.indptr))]), shape=A.shape)
    assert not B.has_canonical_format and abs(B - A).max() == 0
    B_before = (B.data.copy(), B.indices.copy(), B.indptr.copy())
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(D)
    assert_allclose(model.score_samples(B), model.score_samples(D), rtol=1e-12)
    refit = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(B)
    assert_allclose(refit.means_, model.means_, rtol=1e-10)
    for before, after in zip(B_before, (B.data, B.indices, B.indptr)):
        np.testing.assert_array_equal(before, after)  # the caller's matrix is untouched


def test_gaussian_kmeans_init_takes_int64_indexed_csr():
    X = _poisson_csr(40, 5, 0)
    X64 = X.copy()  # (the constructor would pick 32-bit indices again)
    X64.indices, X64.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    a = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    b = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X64)
    assert_allclose(b.means_, a.means_, rtol=0, atol=0)
