"""Fits on the words that occur (fastem._multinomial.Vocabulary): when many
columns are empty (hashed features), NaiveBayesEM and MultinomialMixture keep
table rows only for the occurring words plus one for all the others. That
must not change what a fit returns: every test here compares a fit that
compresses with the same fit made to keep every word."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastem._multinomial as multinomial
from fastem import MultinomialMixture, NaiveBayesEM
from fastem._kernels.csr import column_occurs
from fastem._multinomial import Vocabulary
from fastem._validation import check_csr
from fastem.datasets import make_corpus


def spread(X, factor=4, offset=1):
    """``X`` with column ``j`` moved to ``factor * j + offset``: most columns
    of the result are empty, the first one too."""
    X = sp.csr_matrix(X)
    return sp.csr_matrix((X.data, X.indices * factor + offset, X.indptr),
                         shape=(X.shape[0], X.shape[1] * factor + offset))


@pytest.fixture(scope="module")
def corpus():
    X, y, _ = make_corpus(240, 50, 3, 25, random_state=3)
    return spread(X), y


def fit_both(monkeypatch, make, X, y=None, compresses=True):
    """(a fit that may compress, the same fit keeping every word) of the
    models ``make()`` returns, checking whether the first one compressed."""
    seen = []
    original = multinomial.Vocabulary.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.compressed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        compressed, full = make(), make()
        with monkeypatch.context() as m:
            m.setattr(multinomial.Vocabulary, "__init__", spy)
            compressed.fit(X, y)
        assert seen == [compresses]
        with monkeypatch.context() as m:
            m.setattr(multinomial, "UNUSED_SHARE", 2.0)  # (never)
            full.fit(X, y)
    return compressed, full


def assert_same_fit(a, b, X, rtol=1e-11):
    assert a.feature_log_prob_.shape == b.feature_log_prob_.shape
    assert a.feature_log_prob_.shape[1] == X.shape[1]
    assert a.feature_log_prob_.flags.c_contiguous == b.feature_log_prob_.flags.c_contiguous
    assert_allclose(a.feature_log_prob_, b.feature_log_prob_, rtol=rtol)
    assert_allclose(a.lower_bound_, b.lower_bound_, rtol=rtol)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9, atol=1e-12)
    if hasattr(b, "feature_count_"):
        assert_allclose(a.feature_count_, b.feature_count_, rtol=rtol, atol=1e-12)
        assert_allclose(a.class_log_prior_, b.class_log_prior_, rtol=rtol)
        assert_allclose(a._log_prob_sums, b._log_prob_sums, rtol=rtol)
    else:
        assert_allclose(a.weights_, b.weights_, rtol=rtol)
        assert_allclose(a._log_prob_sum, b._log_prob_sum, rtol=rtol)


@pytest.mark.parametrize("kwargs", [
    dict(init="labeled"), dict(init="uniform"), dict(init="random", n_init=2),
    dict(init="labeled", n_components_per_class=2, random_state=1),
    dict(init="labeled", alpha=0.0), dict(init="labeled", dtype=np.float32),
    dict(init="labeled", unlabeled_weight=0.3, class_prior=[0.2, 0.3, 0.5]),
])
def test_naive_bayes_semi_supervised(monkeypatch, corpus, kwargs):
    X, y = corpus
    y_partial = np.where(np.arange(y.size) % 8 == 0, y, -1)
    params = dict(dict(alpha=0.1, max_iter=6, tol=0, random_state=0), **kwargs)
    a, b = fit_both(monkeypatch, lambda: NaiveBayesEM(**params), X, y_partial)
    assert_same_fit(a, b, X, rtol=1e-5 if kwargs.get("dtype") == np.float32 else 1e-11)
    # the empty columns' rows: no counts, and the smoothed value of zero counts
    empty = np.asarray(X.sum(axis=0)).ravel() == 0
    assert np.all(a.feature_count_[:, empty] == 0)
    assert np.all(a.feature_log_prob_[:, empty] == a.feature_log_prob_[:, [0]])


def test_naive_bayes_unsupervised_and_supervised(monkeypatch, corpus):
    X, y = corpus
    a, b = fit_both(monkeypatch, lambda: NaiveBayesEM(n_classes=3, init="random", max_iter=5, tol=0,
                                                      random_state=0), X)
    assert_same_fit(a, b, X)
    # nothing latent, no iterations: every word kept
    a, b = fit_both(monkeypatch, lambda: NaiveBayesEM(alpha=0.5), X, y, compresses=False)
    assert_same_fit(a, b, X, rtol=0)


def test_naive_bayes_warm_start(monkeypatch, corpus):
    X, y = corpus
    y_partial = np.where(np.arange(y.size) % 8 == 0, y, -1)

    def warm():
        model = NaiveBayesEM(alpha=0.1, max_iter=3, tol=0, warm_start=True)
        with monkeypatch.context() as m:  # the first fit on every word, in both
            m.setattr(multinomial, "UNUSED_SHARE", 2.0)
            model.fit(X, y_partial)
        return model

    a, b = fit_both(monkeypatch, warm, X, y_partial)
    assert_same_fit(a, b, X)


@pytest.mark.parametrize("init", ["random", "kmeans++", "random_from_data"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_multinomial_mixture(monkeypatch, corpus, init, alpha):
    X, _ = corpus
    params = dict(alpha=alpha, init_params=init, max_iter=6, tol=0, n_init=2, random_state=0)
    a, b = fit_both(monkeypatch, lambda: MultinomialMixture(3, **params), X)
    assert_same_fit(a, b, X)


def test_multinomial_mixture_warm_start(monkeypatch, corpus):
    X, _ = corpus
    models = []
    for share in (multinomial.UNUSED_SHARE, 2.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MultinomialMixture(3, alpha=0.3, max_iter=2, tol=0, warm_start=True,
                                       random_state=0).fit(X)
            with monkeypatch.context() as m:
                m.setattr(multinomial, "UNUSED_SHARE", share)
                model.fit(X)
        models.append(model)
    assert_same_fit(*models, X)


def test_no_iterations_keep_every_word(corpus):
    """With max_iter=0 the returned table is the initial one, whose rows for
    empty columns need not be alike (uniform init with noise): kept whole."""
    X, y = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NaiveBayesEM(n_classes=3, init="uniform", n_components_per_class=2, max_iter=0,
                             random_state=0).fit(X)
    empty = np.asarray(X.sum(axis=0)).ravel() == 0
    assert np.unique(model.feature_log_prob_[0, empty]).size > 1
    assert_allclose(np.exp(model.feature_log_prob_).sum(axis=1), 1.0, rtol=1e-12)


def test_a_fit_that_raises_leaves_full_tables(monkeypatch, corpus):
    X, y = corpus
    y_partial = np.where(np.arange(y.size) % 8 == 0, y, -1)
    model = NaiveBayesEM(max_iter=5, tol=0)
    calls = []
    original = NaiveBayesEM._m_step

    def m_step(self, data, stats):
        calls.append(1)
        original(self, data, stats)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(NaiveBayesEM, "_m_step", m_step)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y_partial)
    assert model._log_prob.shape == (X.shape[1], 3)
    assert model._feature_count.shape == (X.shape[1], 3)
    assert not hasattr(model, "_vocabulary")


def test_vocabulary_round_trip():
    X = check_csr(spread(sp.random(30, 20, density=0.3, format="csr", random_state=0), 3, 2))
    vocabulary = Vocabulary(X)
    assert vocabulary.compressed
    occurs = np.bincount(X.indices, minlength=X.shape[1]) > 0
    assert_array_equal(column_occurs(X.indices, X.shape[1]), occurs)
    assert vocabulary.n_rows == occurs.sum() + 1
    Xc = vocabulary.matrix(X)
    assert Xc.shape == (30, vocabulary.n_rows)
    dense = sp.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape).toarray()
    dense_c = sp.csr_matrix((Xc.data, Xc.indices, Xc.indptr), shape=Xc.shape).toarray()
    assert_array_equal(dense_c[:, :-1], dense[:, occurs])
    assert not dense_c[:, -1].any()
    table = np.arange(X.shape[1] * 2, dtype=np.float64).reshape(-1, 2)
    table[~occurs] = 7.0  # rows of empty columns alike
    small = vocabulary.compress(table)
    assert small.shape == (vocabulary.n_rows, 2) and small.flags.c_contiguous
    assert_array_equal(vocabulary.expand(small), table)
    assert vocabulary.table_sum(small) == table.sum()
    # few empty columns: every word kept, and nothing copied
    X_full = check_csr(sp.random(30, 20, density=0.5, format="csr", random_state=0))
    kept = Vocabulary(X_full)
    assert not kept.compressed and kept.n_rows == 20
    assert kept.matrix(X_full) is X_full and kept.expand(table) is table
    assert not Vocabulary(X, enabled=False).compressed


@pytest.mark.parametrize("make", [
    lambda: NaiveBayesEM(alpha=0.1, max_iter=5, tol=0, warm_start=True),
    lambda: MultinomialMixture(3, alpha=0.1, max_iter=5, tol=0, warm_start=True, random_state=0),
])
def test_a_warm_fit_that_raises_before_its_first_m_step_keeps_the_previous_model(
        monkeypatch, corpus, make):
    """(found in review: the previous tables were compressed on entry and
    expanded back, which gave every empty column one column's values)"""
    X, y = corpus
    model = make()
    # the previous fit on a matrix in which every column occurs: its rows for
    # the columns empty in X differ
    X_previous = sp.csr_matrix(X + sp.random(*X.shape, density=0.2, random_state=1) * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_previous, y if isinstance(model, NaiveBayesEM) else None)
    before = {name: getattr(model, name).copy() for name in ("_log_prob", "_feature_count")
              if hasattr(model, name)}

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(type(model), "_e_step", boom)
    y_partial = np.where(np.arange(y.size) % 8 == 0, y, -1)
    with pytest.raises(MemoryError):
        model.fit(X, y_partial if isinstance(model, NaiveBayesEM) else None)
    for name, table in before.items():
        assert_array_equal(getattr(model, name), table)
    assert not hasattr(model, "_vocabulary")


def test_a_fresh_fit_that_raises_early_leaves_the_previous_tables_alone(monkeypatch, corpus):
    """A previous fit's table is not expanded, even one that happens to have
    as many rows as the new fit's compressed tables."""
    X, _ = corpus
    occurring = int((np.bincount(X.indices, minlength=X.shape[1]) > 0).sum())
    small = sp.random(60, occurring + 1, density=0.3, format="csr", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MultinomialMixture(3, max_iter=2, random_state=0).fit(small)
    table = model._log_prob.copy()

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(MultinomialMixture, "_initialize", boom)
    with pytest.raises(MemoryError):
        model.fit(X)
    assert_array_equal(model._log_prob, table)
