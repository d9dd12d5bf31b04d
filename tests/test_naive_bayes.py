"""Behavioural tests of :class:`fastem.NaiveBayesEM`.

Every expected value is computed independently of the library: with
``sklearn.naive_bayes.MultinomialNB`` (supervised parity), with a slow dense
NumPy implementation of semi-supervised EM (``_reference_em``, Nigam et al.
2000, Figure 2, with Lidstone smoothing ``alpha`` and weight λ on unlabelled
rows), or with ``scipy.special.logsumexp`` on densified (small) data.

Tolerances: the library accumulates in float64; differences from the
references are floating-point reassociation only, so parameters and log
probabilities are compared at 1e-10 absolute (MultinomialNB parity, as
requested) or 1e-9 relative (EM references, where a few iterations may
amplify round-off a little).
"""
import pickle
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, adjusted_rand_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem._kernels.blocked as blocked_module
from fastem import NaiveBayesEM
from fastem.datasets import make_corpus
from helpers import quiet  # noqa: E402

PARITY_ATOL = 1e-10
REF_RTOL = 1e-9


# --------------------------------------------------------------------- helpers
def _partial_labels(y, fraction, seed, ensure_all=True):
    """Copy of ``y`` with all but ``fraction`` of rows set to -1; if
    ``ensure_all`` every class keeps at least one labelled row."""
    rng = np.random.RandomState(seed)
    labelled = rng.rand(y.shape[0]) < fraction
    if ensure_all:
        for k in np.unique(y):
            labelled[np.flatnonzero(y == k)[0]] = True
    y_partial = np.where(labelled, y, -1)
    return y_partial, labelled


def _m_step(Xd, resp, weight, alpha, fixed_log_prior=None):
    """Dense M-step: Lidstone-smoothed word probabilities, unsmoothed prior."""
    wr = resp * weight[:, None]
    counts = wr.T @ Xd + alpha  # [K, F]
    log_prob = np.log(counts) - np.log(counts.sum(axis=1, keepdims=True))
    if fixed_log_prior is not None:
        return log_prob, fixed_log_prior
    class_counts = wr.sum(axis=0)
    return log_prob, np.log(class_counts) - np.log(class_counts.sum())


def _reference_em(Xd, codes, n_classes, alpha, lam, n_iter, sample_weight=None):
    """Semi-supervised EM (Nigam et al. 2000, Figure 2), dense and slow.

    Labelled rows (``codes >= 0``) are one-hot and fixed; unlabelled rows get
    the posterior under the previous parameters and weight ``lam``. Starts
    from supervised NB on the labelled rows. Returns the parameters after
    ``n_iter`` M-steps and the responsibilities used in the last M-step.
    """
    n = Xd.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    free = codes < 0
    resp = np.zeros((n, n_classes))
    resp[~free, codes[~free]] = 1.0
    log_prob, log_prior = _m_step(Xd, resp, np.where(free, 0.0, sw), alpha)
    weight = np.where(free, lam * sw, sw)
    for _ in range(n_iter):
        post = softmax(Xd @ log_prob.T + log_prior, axis=1)
        resp = resp.copy()
        resp[free] = post[free]
        log_prob, log_prior = _m_step(Xd, resp, weight, alpha)
    return log_prob, log_prior, resp


def _objective(Xd, codes, model, lam, sample_weight=None):
    """Per-sample MAP objective of ``model`` computed from its public attributes."""
    n = Xd.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    jll = Xd @ model.feature_log_prob_.T + model.class_log_prior_
    free = codes < 0
    labelled = np.sum(sw[~free] * jll[~free, codes[~free]])
    unlabelled = lam * np.sum(sw[free] * logsumexp(jll[free], axis=1))
    return (labelled + unlabelled + model.alpha * model.feature_log_prob_.sum()) / n


def _codes(y_partial, classes):
    codes = np.full(y_partial.shape[0], -1)
    lab = y_partial != -1
    codes[lab] = np.searchsorted(classes, y_partial[lab])
    return codes


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def corpus():
    X, y, params = make_corpus(n_samples=240, n_features=40, n_classes=3, doc_length=30,
                               random_state=1)
    return X, y, params


@pytest.fixture(scope="module")
def sparse_corpus():
    """Short documents: many (word, class) pairs never seen, for alpha=0."""
    X, y, _ = make_corpus(n_samples=150, n_features=60, n_classes=3, doc_length=8,
                          random_state=3)
    return X, y


# ------------------------------------------------------- supervised parity
def _assert_parity(model, ref, X):
    assert_array_equal(model.classes_, ref.classes_)
    assert_allclose(model.class_count_, ref.class_count_, rtol=0, atol=PARITY_ATOL)
    assert_allclose(model.feature_count_, ref.feature_count_, rtol=0, atol=PARITY_ATOL)
    assert_allclose(model.class_log_prior_, ref.class_log_prior_, rtol=0, atol=PARITY_ATOL)
    assert_allclose(model.feature_log_prob_, ref.feature_log_prob_, rtol=0, atol=PARITY_ATOL)
    assert_allclose(model.predict_log_proba(X), ref.predict_log_proba(X), rtol=0,
                    atol=PARITY_ATOL)
    assert_allclose(model.predict_proba(X), ref.predict_proba(X), rtol=0, atol=PARITY_ATOL)
    assert_array_equal(model.predict(X), ref.predict(X))
    assert model.n_iter_ == 0
    assert model.converged_ is True
    assert model.lower_bounds_.shape == (0,)


def _alpha0_accepted_by_sklearn(X, y):
    """True if MultinomialNB(alpha=0, force_alpha=True) fits without warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # numpy's divide-by-zero warning for log(0) is expected, not a change
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            ref = MultinomialNB(alpha=0.0, force_alpha=True).fit(X, y)
        except Exception:
            return False
    return ref.alpha == 0.0 and np.isneginf(ref.feature_log_prob_).any()


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.0])
@pytest.mark.parametrize("prior", ["fit", "uniform", "given"])
def test_supervised_parity_with_multinomialnb(corpus, sparse_corpus, alpha, prior):
    X, y = sparse_corpus if alpha == 0.0 else corpus[:2]
    if alpha == 0.0 and not _alpha0_accepted_by_sklearn(X, y):
        pytest.skip("this scikit-learn changes/warns on alpha=0 with force_alpha=True")
    kwargs = {"fit": {}, "uniform": {"fit_prior": False},
              "given": {"class_prior": [0.2, 0.5, 0.3]}}[prior]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sklearn's log(0) at alpha=0
        ref = MultinomialNB(alpha=alpha, force_alpha=True, **kwargs).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a supervised fit warns about nothing
        model = NaiveBayesEM(alpha=alpha, **kwargs).fit(X, y)
    _assert_parity(model, ref, X)
    if alpha == 0.0:
        # the data set really exercises log(0) = -inf
        assert np.isneginf(model.feature_log_prob_).any()
    if prior == "given":
        assert_allclose(model.class_log_prior_, np.log([0.2, 0.5, 0.3]), rtol=0, atol=1e-15)


def test_supervised_parity_string_labels(corpus):
    X, y, _ = corpus
    names = np.array(["sport", "arts", "news"])
    y_str = names[y]
    ref = MultinomialNB().fit(X, y_str)
    model = NaiveBayesEM().fit(X, y_str)
    assert_array_equal(model.classes_, ["arts", "news", "sport"])
    _assert_parity(model, ref, X)
    # and the same numbers as with the integer labels, up to class order
    model_int = NaiveBayesEM().fit(X, y)
    order = np.searchsorted(model.classes_, names)
    assert_allclose(model.feature_log_prob_[order], model_int.feature_log_prob_, rtol=0,
                    atol=1e-14)


def test_supervised_parity_sample_weight(corpus):
    X, y, _ = corpus
    sw = np.random.RandomState(0).uniform(0.0, 3.0, size=y.shape[0])
    sw[:10] = 0.0
    ref = MultinomialNB(alpha=0.5).fit(X, y, sample_weight=sw)
    model = NaiveBayesEM(alpha=0.5).fit(X, y, sample_weight=sw)
    _assert_parity(model, ref, X)
    # integer weights are repetitions
    counts = np.random.RandomState(1).randint(0, 3, size=y.shape[0])
    rep = np.repeat(np.arange(y.shape[0]), counts)
    a = NaiveBayesEM(alpha=0.5).fit(X, y, sample_weight=counts.astype(float))
    b = NaiveBayesEM(alpha=0.5).fit(X[rep], y[rep])
    assert_allclose(a.feature_log_prob_, b.feature_log_prob_, rtol=0, atol=1e-12)
    assert_allclose(a.class_log_prior_, b.class_log_prior_, rtol=0, atol=1e-12)


# ------------------------------------------------------------ input variants
def _unsorted(X):
    """Same matrix with the indices of every row stored in reverse order."""
    X = X.tocsr(copy=True)
    data, indices = X.data.copy(), X.indices.copy()
    for i in range(X.shape[0]):
        s, e = X.indptr[i], X.indptr[i + 1]
        data[s:e], indices[s:e] = data[s:e][::-1], indices[s:e][::-1]
    out = sp.csr_matrix((data, indices, X.indptr.copy()), shape=X.shape)
    assert not out.has_sorted_indices or X.nnz == 0
    return out


def _with_duplicates(X):
    """Same matrix with every count >= 2 split into two stored entries (1, c - 1)."""
    X = X.tocsr()
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        for p in range(X.indptr[i], X.indptr[i + 1]):
            c, j = X.data[p], X.indices[p]
            if c >= 2:
                data += [1.0, c - 1.0]
                indices += [j, j]
            else:
                data.append(c)
                indices.append(j)
        indptr.append(len(data))
    out = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32),
                         np.array(indptr, dtype=np.int32)), shape=X.shape)
    assert out.nnz > X.nnz
    return out


def _int64_indices(X):
    X = X.copy()
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    return X


def _snapshot(X):
    if sp.issparse(X):
        if X.format == "coo":
            return tuple(np.array(a, copy=True) for a in (X.data, X.row, X.col))
        if X.format in ("csr", "csc"):
            return tuple(np.array(a, copy=True) for a in (X.data, X.indices, X.indptr))
    return (np.array(X, copy=True),)


def _assert_same_arrays(before, after):
    for a, b in zip(before, after):
        assert a.dtype == b.dtype
        assert_array_equal(a, b)


VARIANTS = {
    "csr_matrix": lambda X: X.copy(),
    "csr_array": lambda X: sp.csr_array(X),
    "csc": lambda X: X.tocsc(),
    "coo": lambda X: X.tocoo(),
    "dense": lambda X: X.toarray(),
    "dense_int64": lambda X: X.toarray().astype(np.int64),
    "float32": lambda X: X.astype(np.float32),
    "int64_data": lambda X: X.astype(np.int64),
    "int64_indices": _int64_indices,
    "unsorted_indices": _unsorted,
    "duplicates": _with_duplicates,
    "duplicates_summed": lambda X: _with_duplicates(X).copy().tocsr(copy=True),
}


@pytest.fixture(scope="module")
def variant_problem():
    X, y, _ = make_corpus(n_samples=120, n_features=30, n_classes=3, doc_length=20,
                          random_state=5)
    y_partial, _ = _partial_labels(y, 0.3, seed=0)
    kwargs = dict(alpha=0.3, max_iter=5, tol=0.0, random_state=0)
    with quiet():
        ref = NaiveBayesEM(**kwargs).fit(X, y_partial)
    assert X.indices.dtype == np.int32
    return X, y_partial, kwargs, ref


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_input_variants_identical(variant_problem, variant):
    X, y_partial, kwargs, ref = variant_problem
    Xv = VARIANTS[variant](X)
    if variant == "duplicates_summed":
        Xv.sum_duplicates()
        assert Xv.nnz == X.nnz
    before = _snapshot(Xv)
    with quiet():
        model = NaiveBayesEM(**kwargs).fit(Xv, y_partial)
    _assert_same_arrays(before, _snapshot(Xv))  # fit does not modify the user's matrix
    assert model.n_iter_ == ref.n_iter_ == 5
    assert_allclose(model.feature_log_prob_, ref.feature_log_prob_, rtol=1e-12, atol=1e-13)
    assert_allclose(model.class_log_prior_, ref.class_log_prior_, rtol=1e-12, atol=1e-13)
    assert_allclose(model.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
    proba = model.predict_proba(Xv)
    _assert_same_arrays(before, _snapshot(Xv))  # neither does prediction
    assert_allclose(proba, ref.predict_proba(X), rtol=1e-12, atol=1e-13)
    assert_allclose(model.score_samples(Xv), ref.score_samples(X), rtol=1e-12)


def test_duplicates_versus_sum_duplicates(variant_problem):
    """A CSR with duplicate entries is the matrix with them summed."""
    X, y_partial, kwargs, _ = variant_problem
    Xdup = _with_duplicates(X)
    Xsum = Xdup.copy()
    Xsum.sum_duplicates()
    assert Xsum.nnz < Xdup.nnz
    before = _snapshot(Xdup)
    with quiet():
        a = NaiveBayesEM(**kwargs).fit(Xdup, y_partial)
        b = NaiveBayesEM(**kwargs).fit(Xsum, y_partial)
    _assert_same_arrays(before, _snapshot(Xdup))
    assert Xdup.nnz > Xsum.nnz  # not canonicalised in place
    assert_allclose(a.feature_log_prob_, b.feature_log_prob_, rtol=1e-12, atol=1e-13)
    assert_allclose(a.class_count_, b.class_count_, rtol=1e-12)
    assert_allclose(a.predict_log_proba(Xdup), b.predict_log_proba(Xsum), rtol=1e-12,
                    atol=1e-12)


# ------------------------------------------------------------ semi-supervised
def test_unlabelled_markers_minus_one_and_nan_agree(corpus):
    X, y, _ = corpus
    y_partial, labelled = _partial_labels(y, 0.2, seed=1)
    y_nan = np.where(labelled, y.astype(float), np.nan)
    y_nan_m1 = np.where(labelled, y.astype(float), -1.0)
    kwargs = dict(alpha=0.5, max_iter=7, tol=0.0)
    with quiet():
        models = [NaiveBayesEM(**kwargs).fit(X, yy) for yy in (y_partial, y_nan, y_nan_m1)]
    a = models[0]
    assert_array_equal(a.classes_, [0, 1, 2])
    assert a.n_iter_ == 7
    for b in models[1:]:
        assert_array_equal(b.classes_, [0.0, 1.0, 2.0])
        assert_array_equal(b.feature_log_prob_, a.feature_log_prob_)
        assert_array_equal(b.class_log_prior_, a.class_log_prior_)
        assert_array_equal(b.lower_bounds_, a.lower_bounds_)


def test_unlabelled_marker_none_with_integer_labels(corpus):
    """``None`` marks unlabelled rows (fit docstring); a plain Python list of
    ints and Nones is the natural way to write it."""
    X, y, _ = corpus
    y_partial, labelled = _partial_labels(y, 0.2, seed=1)
    y_none = [int(v) if m else None for v, m in zip(y, labelled)]
    kwargs = dict(alpha=0.5, max_iter=7, tol=0.0)
    with quiet():
        a = NaiveBayesEM(**kwargs).fit(X, y_partial)
        b = NaiveBayesEM(**kwargs).fit(X, y_none)
    assert_array_equal(b.classes_, [0, 1, 2])
    assert_array_equal(b.feature_log_prob_, a.feature_log_prob_)
    assert_array_equal(b.class_log_prior_, a.class_log_prior_)


def test_unlabelled_marker_none_with_string_labels(corpus):
    X, y, _ = corpus
    y_partial, labelled = _partial_labels(y, 0.2, seed=1)
    names = np.array(["a", "b", "c"])
    y_none = [names[v] if m else None for v, m in zip(y, labelled)]
    kwargs = dict(alpha=0.5, max_iter=7, tol=0.0)
    with quiet():
        a = NaiveBayesEM(**kwargs).fit(X, y_partial)
        b = NaiveBayesEM(**kwargs).fit(X, y_none)
    assert_array_equal(b.classes_, names)
    assert_array_equal(b.feature_log_prob_, a.feature_log_prob_)
    assert_array_equal(b.predict(X), names[a.predict(X)])


@pytest.mark.parametrize("n_iter", [1, 3, 10])
@pytest.mark.parametrize("lam,weighted", [(1.0, False), (0.4, True)])
def test_semi_supervised_matches_reference_em(corpus, n_iter, lam, weighted):
    X, y, _ = corpus
    y_partial, labelled = _partial_labels(y, 0.15, seed=2)
    sw = np.random.RandomState(3).uniform(0.5, 2.0, size=y.shape[0]) if weighted else None
    alpha = 0.7
    with quiet():
        model = NaiveBayesEM(alpha=alpha, unlabeled_weight=lam, max_iter=n_iter, tol=0.0,
                             init="labeled").fit(X, y_partial, sample_weight=sw)
    assert model.n_iter_ == n_iter
    assert model.converged_ is False
    Xd = X.toarray()
    codes = _codes(y_partial, model.classes_)
    log_prob, log_prior, resp = _reference_em(Xd, codes, 3, alpha, lam, n_iter, sw)
    assert_allclose(model.feature_log_prob_, log_prob, rtol=REF_RTOL)
    assert_allclose(model.class_log_prior_, log_prior, rtol=REF_RTOL)
    # class_count_/feature_count_ are the statistics of the last M-step
    w = np.ones(y.shape[0]) if sw is None else sw
    w = np.where(labelled, w, lam * w)
    assert_allclose(model.class_count_, (resp * w[:, None]).sum(axis=0), rtol=REF_RTOL)
    assert_allclose(model.feature_count_, (resp * w[:, None]).T @ Xd, rtol=REF_RTOL,
                    atol=1e-9)
    # in the reference, labelled rows kept their one-hot labels throughout
    assert_array_equal(resp[labelled], np.eye(3)[y[labelled]])
    # objective of the returned model
    assert_allclose(model.lower_bound_, _objective(Xd, codes, model, lam, sw), rtol=REF_RTOL)


def test_labelled_rows_never_relabelled(corpus):
    """The M-step statistics of iteration k equal one-hot counts of the labelled
    rows plus λ times the posterior of the unlabelled rows under the parameters
    of iteration k - 1 (obtained with max_iter=k - 1, the 'labeled' init being
    deterministic)."""
    X, y, _ = corpus
    # labels deliberately contradicting the data for a third of the labelled
    # rows: a relabelling implementation would move them
    y_partial, labelled = _partial_labels(y, 0.3, seed=4)
    idx = np.flatnonzero(labelled)[::3]
    y_partial[idx] = (y_partial[idx] + 1) % 3
    lam, alpha = 0.6, 0.2
    Xd = X.toarray()
    onehot = np.zeros((y.shape[0], 3))
    onehot[labelled, y_partial[labelled]] = 1.0
    for k in (1, 2, 5):
        with quiet():
            prev = NaiveBayesEM(alpha=alpha, unlabeled_weight=lam, max_iter=k - 1,
                                tol=0.0).fit(X, y_partial)
            cur = NaiveBayesEM(alpha=alpha, unlabeled_weight=lam, max_iter=k,
                               tol=0.0).fit(X, y_partial)
        post = prev.predict_proba(X)
        resp = np.where(labelled[:, None], onehot, lam * post)
        assert_allclose(cur.class_count_, resp.sum(axis=0), rtol=1e-10)
        assert_allclose(cur.feature_count_, resp.T @ Xd, rtol=1e-10, atol=1e-9)
        # labelled counts alone are a lower bound of every class count
        assert np.all(cur.class_count_ >= onehot.sum(axis=0) - 1e-12)
        assert_allclose(cur.class_count_.sum(), labelled.sum() + lam * (~labelled).sum(),
                        rtol=1e-12)


@pytest.mark.parametrize("init", ["labeled", "random", "uniform"])
def test_unlabeled_weight_zero_is_supervised_on_labelled_rows(corpus, init):
    X, y, _ = corpus
    y_partial, labelled = _partial_labels(y, 0.25, seed=5)
    ref = MultinomialNB(alpha=0.3).fit(X[labelled], y[labelled])
    model = NaiveBayesEM(alpha=0.3, unlabeled_weight=0.0, init=init,
                         random_state=0).fit(X, y_partial)
    assert model.n_iter_ == 0
    assert_allclose(model.feature_log_prob_, ref.feature_log_prob_, rtol=0,
                    atol=PARITY_ATOL)
    assert_allclose(model.class_log_prior_, ref.class_log_prior_, rtol=0,
                    atol=PARITY_ATOL)
    assert_allclose(model.class_count_, ref.class_count_, rtol=0, atol=PARITY_ATOL)


@pytest.mark.parametrize("init", ["uniform", "random"])
def test_supervised_fit_ignores_init(corpus, init):
    """Every row labelled: nothing is latent, so every init gives MultinomialNB."""
    X, y, _ = corpus
    ref = MultinomialNB(alpha=0.4).fit(X, y)
    model = NaiveBayesEM(alpha=0.4, init=init, random_state=0).fit(X, y)
    _assert_parity(model, ref, X)


# ------------------------------------------------------------------ objective
# λ is 0, 1 or in [1e-6, 1]: a subnormal λ (e.g. 5e-324) with no labelled row
# underflows every class count to 0 and gives a NaN prior, the same defect as
# λ = 0 without labels (reported; tested in test_validation.py).
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(n_samples=st.integers(10, 80), n_features=st.integers(3, 30),
       n_classes=st.integers(2, 4), doc_length=st.integers(3, 40),
       seed=st.integers(0, 2**31 - 1),
       fraction=st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
       alpha=st.floats(0.01, 2.0),
       lam=st.one_of(st.just(0.0), st.just(1.0), st.floats(1e-6, 1.0)),
       init=st.sampled_from(["labeled", "uniform", "random"]))
def test_objective_never_decreases(n_samples, n_features, n_classes, doc_length, seed,
                                   fraction, alpha, lam, init):
    X, y, _ = make_corpus(n_samples=n_samples, n_features=n_features, n_classes=n_classes,
                          doc_length=doc_length, random_state=seed % 2**31)
    rng = np.random.RandomState(seed % 1000)
    y_partial = np.where(rng.rand(n_samples) < fraction, y, -1)
    if not np.any(y_partial >= 0) and lam == 0.0:
        lam = 0.5  # no labels and no weight: nothing to fit (see test_validation)
    model = NaiveBayesEM(alpha=alpha, unlabeled_weight=lam, init=init, n_classes=n_classes,
                         max_iter=25, tol=0.0, random_state=seed % 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y_partial)
    lbs = model.lower_bounds_
    assert np.all(np.isfinite(lbs))
    assert np.all(np.diff(lbs) >= -1e-10 * np.abs(lbs[:-1])), np.diff(lbs)
    if lbs.size:
        assert lbs[-1] == model.lower_bound_
    # lower_bound_ is the objective of the returned model
    Xd = X.toarray()
    codes = _codes(y_partial, model.classes_)
    assert_allclose(model.lower_bound_, _objective(Xd, codes, model, lam), rtol=REF_RTOL)


@pytest.mark.parametrize("fraction,n_classes", [(0.0, 3), (0.2, None), (1.0, None)])
def test_lower_bound_is_objective_of_returned_model(corpus, fraction, n_classes):
    X, y, _ = corpus
    y_partial = np.where(np.random.RandomState(6).rand(y.shape[0]) < fraction, y, -1)
    sw = np.random.RandomState(7).uniform(0.2, 1.5, size=y.shape[0])
    lam = 0.8
    model = NaiveBayesEM(alpha=0.25, unlabeled_weight=lam, n_classes=n_classes, tol=1e-8,
                         max_iter=300, random_state=0).fit(X, y_partial, sample_weight=sw)
    codes = _codes(y_partial, model.classes_)
    expected = _objective(X.toarray(), codes, model, lam, sw)
    assert_allclose(model.lower_bound_, expected, rtol=REF_RTOL)
    if fraction < 1.0:
        assert model.converged_ and model.n_iter_ >= 1
        assert model.lower_bounds_[-1] == model.lower_bound_


# ------------------------------------------------------------------- recovery
@pytest.fixture(scope="module")
def big_corpus():
    return make_corpus(n_samples=3000, n_features=300, n_classes=4, doc_length=100,
                       random_state=0)


def _rel_mae(P, Q):
    return np.abs(P - Q).mean() / Q.mean()


# Measured: relative MAE 0.0344 for the unsupervised, semi-supervised (5 %
# labelled) and fully supervised fits alike (the sampling noise of 3000 docs),
# 0.19 for supervised NB on the 5 % labelled rows alone; class prior error
# 0.0145. Tolerances leave a margin.
RECOVERY_REL_MAE = 0.05
PRIOR_ATOL = 0.03


def test_unsupervised_recovery(big_corpus):
    X, y, params = big_corpus
    model = NaiveBayesEM(n_classes=4, n_init=3, random_state=0).fit(X)
    assert model.converged_
    P = np.exp(model.feature_log_prob_)
    cost = np.abs(P[:, None, :] - params.feature_prob[None, :, :]).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(4, dtype=int)
    perm[cols] = rows
    assert _rel_mae(P[perm], params.feature_prob) < RECOVERY_REL_MAE
    assert_allclose(np.exp(model.class_log_prior_[perm]), params.class_prior, atol=PRIOR_ATOL)
    assert adjusted_rand_score(y, model.predict(X)) > 0.99


def test_semi_supervised_recovery(big_corpus):
    X, y, params = big_corpus
    y_partial, labelled = _partial_labels(y, 0.05, seed=0, ensure_all=True)
    assert 100 < labelled.sum() < 200
    model = NaiveBayesEM().fit(X, y_partial)
    assert model.converged_
    P = np.exp(model.feature_log_prob_)  # no matching: classes are named by the labels
    err = _rel_mae(P, params.feature_prob)
    assert err < RECOVERY_REL_MAE
    assert_allclose(np.exp(model.class_log_prior_), params.class_prior, atol=PRIOR_ATOL)
    # EM uses the unlabelled rows: far better than NB on the labelled rows only
    only_labelled = NaiveBayesEM().fit(X[labelled], y[labelled])
    assert _rel_mae(np.exp(only_labelled.feature_log_prob_), params.feature_prob) > 2 * err
    assert model.score(X, y) > 0.98


# ---------------------------------------------------------------- unsupervised
@pytest.fixture(scope="module")
def easy_corpus():
    return make_corpus(n_samples=400, n_features=80, n_classes=3, doc_length=60,
                       separation=1.5, random_state=2)


def test_unsupervised_uniform_init_breaks_symmetry(easy_corpus):
    X, y, _ = easy_corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        single = NaiveBayesEM(n_classes=3, init="uniform", random_state=0).fit(X)
        # EM from a (jittered) uniform start can end in a local optimum with an
        # empty component (seed 0 does: ARI 0.67, objective -179.2 vs -169.8),
        # so the clustering quality is asserted for the best of 4 starts
        model = NaiveBayesEM(n_classes=3, init="uniform", n_init=4, random_state=0).fit(X)
    for m in (single, model):
        assert m.n_iter_ >= 1
        flp = m.feature_log_prob_
        for a in range(3):
            for b in range(a + 1, 3):
                assert np.abs(flp[a] - flp[b]).max() > 0.5
    assert model.lower_bound_ >= single.lower_bound_
    assert adjusted_rand_score(y, model.predict(X)) > 0.9


@pytest.mark.parametrize("init", ["labeled", "random"])
def test_unsupervised_clusters_easy_corpus(easy_corpus, init):
    X, y, _ = easy_corpus
    model = NaiveBayesEM(n_classes=3, init=init, n_init=2, random_state=0).fit(X)
    assert_array_equal(model.classes_, [0, 1, 2])
    assert adjusted_rand_score(y, model.predict(X)) > 0.9
    assert model.n_iter_ >= 1 and model.converged_
    assert model.lower_bounds_.shape == (model.n_iter_,)


def test_n_init_keeps_best_initialisation():
    X, _, _ = make_corpus(n_samples=120, n_features=40, n_classes=4, doc_length=15,
                          separation=0.6, random_state=11)
    kwargs = dict(n_classes=4, init="random", max_iter=200, tol=1e-10)
    # three n_init=1 fits sharing one RandomState reproduce the three
    # initialisations of n_init=3 with the same seed
    rs = np.random.RandomState(0)
    singles = [NaiveBayesEM(random_state=rs, **kwargs).fit(X) for _ in range(3)]
    bounds = np.array([m.lower_bound_ for m in singles])
    assert np.ptp(bounds) > 1e-6  # the restarts do end in different optima
    best = NaiveBayesEM(n_init=3, random_state=0, **kwargs).fit(X)
    assert best.lower_bound_ >= bounds.max() - 1e-12
    assert_allclose(best.lower_bound_, bounds.max(), rtol=1e-12)
    winner = singles[int(np.argmax(bounds))]
    assert_allclose(best.feature_log_prob_, winner.feature_log_prob_, rtol=1e-12)
    assert best.n_iter_ == winner.n_iter_
    one = NaiveBayesEM(n_init=1, random_state=0, **kwargs).fit(X)
    assert best.lower_bound_ >= one.lower_bound_
    assert_allclose(one.lower_bound_, bounds[0], rtol=1e-12)


# ---------------------------------------------------------------- warm start
def test_warm_start_continues_from_fitted_parameters(corpus):
    X, y, _ = corpus
    kwargs = dict(n_classes=3, max_iter=1, tol=0.0, random_state=0, alpha=0.5)
    model = NaiveBayesEM(warm_start=True, **kwargs)
    bounds = []
    with quiet():
        for _ in range(6):
            model.fit(X)
            assert model.n_iter_ == 1
            assert model.lower_bounds_.shape == (1,)
            bounds.append(model.lower_bound_)
        cold = NaiveBayesEM(**dict(kwargs, max_iter=6)).fit(X)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[:-1]))
    # six one-step warm fits are one six-step fit
    assert_allclose(bounds, cold.lower_bounds_, rtol=1e-12)
    assert_allclose(model.feature_log_prob_, cold.feature_log_prob_, rtol=1e-11)


def test_warm_start_false_restarts(corpus):
    X, _, _ = corpus
    kwargs = dict(n_classes=3, max_iter=1, tol=0.0, random_state=0)
    model = NaiveBayesEM(**kwargs)
    with quiet():
        first = model.fit(X).lower_bound_
        second = model.fit(X).lower_bound_
    assert second == first


# ------------------------------------------------------- convergence warning
def test_convergence_warning_once(corpus):
    X, y, _ = corpus
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        NaiveBayesEM(n_classes=3, max_iter=2, tol=0.0, n_init=3, random_state=0).fit(X)
    conv = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "max_iter=2" in str(conv[0].message)


def test_no_convergence_warning_when_supervised_or_converged(corpus):
    X, y, _ = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = NaiveBayesEM(max_iter=1).fit(X, y)  # supervised: nothing to iterate
        assert m.converged_ and m.n_iter_ == 0
        m = NaiveBayesEM(n_classes=3, max_iter=500, tol=1e-3, random_state=0).fit(X)
        assert m.converged_ and m.n_iter_ < 500


# -------------------------------------------------------------------- threads
def test_n_jobs_restores_numba_threads(corpus):
    X, y, _ = corpus
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        model = NaiveBayesEM(n_jobs=2, n_classes=3, random_state=0).fit(X)
        assert numba.get_num_threads() == 1
        model.predict(X)
        model.predict_proba(X)
        model.score_samples(X)
        assert numba.get_num_threads() == 1
        numba.set_num_threads(2)
        NaiveBayesEM(n_jobs=1).fit(X, y).predict_log_proba(X)
        assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(previous)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=3
def test_n_jobs_is_used_and_restored_when_fit_raises(corpus, monkeypatch):
    X, _, _ = corpus
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    seen = []
    real = blocked_module.blocked_em_pass

    def spy(*args):
        seen.append(numba.get_num_threads())
        return real(*args)

    def boom(*args):
        seen.append(numba.get_num_threads())
        raise RuntimeError("kernel failure")

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        monkeypatch.setattr(blocked_module, "blocked_em_pass", spy)
        NaiveBayesEM(n_jobs=2, n_classes=3, max_iter=3, random_state=0).fit(X)
        assert seen and set(seen) == {2}
        assert numba.get_num_threads() == 1
        monkeypatch.setattr(blocked_module, "blocked_em_pass", boom)
        with pytest.raises(RuntimeError, match="kernel failure"):
            NaiveBayesEM(n_jobs=2, n_classes=3, random_state=0).fit(X)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(previous)


def test_n_jobs_1_and_2_agree(corpus):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    X, y, _ = corpus
    y_partial, _ = _partial_labels(y, 0.1, seed=8)
    kwargs = dict(alpha=0.3, max_iter=20, tol=0.0, random_state=0)
    with quiet():
        a = NaiveBayesEM(n_jobs=1, **kwargs).fit(X, y_partial)
        b = NaiveBayesEM(n_jobs=2, **kwargs).fit(X, y_partial)
    # the fit is the same to the last bit: every sum of the EM passes, the
    # labelled rows' counts and the M-step runs in an order fixed by the data
    np.testing.assert_array_equal(a.feature_log_prob_, b.feature_log_prob_)
    np.testing.assert_array_equal(a.class_log_prior_, b.class_log_prior_)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-12, atol=1e-14)
    assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-12)


# -------------------------------------------------------------------- verbose
def test_verbose_prints_iterations(corpus, capsys):
    X, _, _ = corpus
    with quiet():
        NaiveBayesEM(n_classes=3, max_iter=4, tol=0.0, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "Iteration" in line]
    assert len(lines) == 4
    assert [int(line.split()[1]) for line in lines] == [1, 2, 3, 4]
    assert "objective" in lines[0]
    with quiet():
        NaiveBayesEM(n_classes=3, max_iter=4, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------- prediction
def test_prediction_methods_against_independent_formulas(corpus):
    X, y, _ = corpus
    y_partial, _ = _partial_labels(y, 0.2, seed=9)
    model = NaiveBayesEM(alpha=0.5).fit(X[:200], y_partial[:200])
    Xt, yt = X[200:], y[200:]
    Xd = Xt.toarray()
    jll = Xd @ model.feature_log_prob_.T + model.class_log_prior_
    log_px = logsumexp(jll, axis=1)
    assert_allclose(model.score_samples(Xt), log_px, rtol=1e-12)
    assert_allclose(model.predict_log_proba(Xt), jll - log_px[:, None], rtol=1e-10,
                    atol=1e-12)
    proba = model.predict_proba(Xt)
    assert_allclose(proba, np.exp(jll - log_px[:, None]), rtol=1e-10, atol=1e-14)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    pred = model.predict(Xt)
    assert_array_equal(pred, model.classes_[np.argmax(jll, axis=1)])
    assert_array_equal(pred, model.classes_[np.argmax(proba, axis=1)])
    assert model.score(Xt, yt) == accuracy_score(yt, pred)
    assert model.score(Xt, yt) > 0.8
    assert_allclose(model.score(Xt, yt), np.mean(pred == yt), rtol=0, atol=0)


def test_feature_log_prob_is_a_view(corpus):
    X, y, _ = corpus
    model = NaiveBayesEM().fit(X, y)
    flp = model.feature_log_prob_
    assert flp.shape == (3, X.shape[1])
    assert np.shares_memory(flp, model._log_prob)
    assert model.feature_count_.shape == (3, X.shape[1])
    assert_allclose(np.exp(flp).sum(axis=1), 1.0, rtol=1e-12)


def test_pickle_round_trip(corpus):
    X, y, _ = corpus
    y_partial, _ = _partial_labels(y, 0.2, seed=10)
    model = NaiveBayesEM(alpha=0.5, n_jobs=1).fit(X, y_partial)
    clone = pickle.loads(pickle.dumps(model))
    assert_array_equal(clone.predict(X), model.predict(X))
    assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    assert_array_equal(clone.feature_log_prob_, model.feature_log_prob_)
    assert np.shares_memory(clone.feature_log_prob_, clone._log_prob)
    assert clone.lower_bound_ == model.lower_bound_


def test_impossible_row_gives_minus_inf_and_uniform_posterior():
    X = np.array([[2.0, 0, 0], [0, 3, 0], [1, 0, 0], [0, 1, 0]])
    model = NaiveBayesEM(alpha=0.0).fit(X, [0, 1, 0, 1])
    assert np.isneginf(model.feature_log_prob_[:, 2]).all()
    T = np.array([[0, 0, 1.0],  # word 2 never seen: impossible under both classes
                  [1, 0, 0],    # possible under class 0 only
                  [1, 1, 0]])   # needs words of both: impossible too
    scores = model.score_samples(T)
    assert np.isneginf(scores[0]) and np.isneginf(scores[2])
    assert_allclose(scores[1], np.log(0.5) + 0.0)
    proba = model.predict_proba(T)
    assert not np.isnan(proba).any()
    assert_allclose(proba, [[0.5, 0.5], [1, 0], [0.5, 0.5]], rtol=0, atol=1e-15)
    log_proba = model.predict_log_proba(T)
    assert not np.isnan(log_proba).any()
    assert_allclose(log_proba[[0, 2]], np.log(0.5), rtol=1e-15)
    assert log_proba[1, 0] == 0.0 and np.isneginf(log_proba[1, 1])
    assert_array_equal(model.predict(T)[1], 0)


def test_impossible_row_prediction_emits_no_runtime_warning():
    """The uniform posterior of an impossible row is by design (documented);
    computing it should not leak numpy's 'invalid value' warning."""
    X = np.array([[2.0, 0, 0], [0, 3, 0]])
    model = NaiveBayesEM(alpha=0.0).fit(X, [0, 1])
    T = np.array([[0, 0, 1.0], [1, 1, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.isneginf(model.score_samples(T)).all()
        assert_allclose(model.predict_proba(T), 0.5)
        assert_allclose(model.predict_log_proba(T), np.log(0.5))


# --------------------------------------------------------- scikit-learn API
def _expected_failed_checks(estimator):
    return {
        "check_classifiers_classes": (
            "-1 is the unlabelled marker (scikit-learn's semi-supervised convention, "
            "documented in fit): the check's y in {-1, 1} is a one-class problem with "
            "unlabelled rows, so classes_ is [1], not [-1, 1]."),
        "check_non_transformer_estimators_n_iter": (
            "a fully labelled fit has nothing latent and runs 0 EM iterations by design "
            "(n_iter_ == 0, identical to MultinomialNB)."),
    }


@parametrize_with_checks([NaiveBayesEM()], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    with quiet():
        check(estimator)


def test_supervised_fit_makes_no_blocked_copy(corpus, monkeypatch):
    """A fit with every row labelled has nothing latent: one counting pass,
    and the row-blocked copy that EM iterations walk is never made."""
    X, y, _ = corpus

    def refuse(*args):
        raise AssertionError("the blocked copy was made for a supervised fit")

    monkeypatch.setattr(blocked_module, "block_sizes", refuse)
    model = NaiveBayesEM(alpha=0.5).fit(X, y)
    assert model.n_iter_ == 0
    np.testing.assert_allclose(model.feature_log_prob_,
                               MultinomialNB(alpha=0.5).fit(X, y).feature_log_prob_, rtol=1e-12)
