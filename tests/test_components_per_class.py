"""NaiveBayesEM(n_components_per_class=m): Nigam et al. (2000) §5.2."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

from fastem import NaiveBayesEM
from fastem.datasets import make_corpus


@pytest.fixture(scope="module")
def sub_topic_corpus():
    # 8 topics; class = topic % 2, so each class is a union of 4 topics
    X, topic, _ = make_corpus(6000, 2000, 8, 60, separation=1.0, random_state=2)
    y = topic % 2
    labeled = np.random.default_rng(2).choice(5000, 200, replace=False)
    y_partial = np.full(5000, -1)
    y_partial[labeled] = y[:5000][labeled]
    return X[:5000], y_partial, X[5000:], y[5000:], labeled, y[:5000]


def fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return NaiveBayesEM(alpha=0.1, random_state=2, **params).fit(X, y)


def test_several_components_per_class_fix_a_misspecified_class(sub_topic_corpus):
    X, y_partial, X_test, y_test, labeled, y_train = sub_topic_corpus
    mnb = MultinomialNB(alpha=0.1).fit(X[labeled], y_train[labeled]).score(X_test, y_test)
    one = fit(X, y_partial).score(X_test, y_test)
    four = fit(X, y_partial, n_components_per_class=4).score(X_test, y_test)
    # measured: MNB 0.960, EM with one component per class 0.726, with four 1.000
    assert one < mnb - 0.1
    assert four > 0.99


def test_shapes_and_class_level_attributes(sub_topic_corpus):
    X, y_partial, X_test, *_ = sub_topic_corpus
    model = fit(X, y_partial, n_components_per_class=3, max_iter=5)
    assert model.feature_log_prob_.shape == (6, X.shape[1])
    assert model.component_log_prior_.shape == (6,)
    assert_allclose(model.class_log_prior_, logsumexp(model.component_log_prior_.reshape(2, 3), axis=1))
    assert model.class_count_.shape == (2,) and model.feature_count_.shape == (6, X.shape[1])
    proba = model.predict_proba(X_test)
    assert proba.shape == (X_test.shape[0], 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(np.log(proba), model.predict_log_proba(X_test), atol=1e-10)
    assert np.array_equal(model.predict(X_test), model.classes_[proba.argmax(axis=1)])
    # class jll sums the components: log p(x) is the same whatever the grouping
    jll = X_test @ model.feature_log_prob_.T + model.component_log_prior_
    assert_allclose(model.score_samples(X_test), logsumexp(jll, axis=1), rtol=1e-10)


def test_labelled_rows_stay_within_their_class(sub_topic_corpus):
    # every row labelled: each class's components share exactly its rows
    X, _, _, _, _, y_train = sub_topic_corpus
    model = fit(X, y_train, n_components_per_class=2)
    assert model.n_iter_ >= 1  # which component of its class a row is in is latent
    assert_allclose(model.class_count_, np.bincount(y_train), rtol=1e-12)
    assert_allclose(np.exp(model.class_log_prior_), np.bincount(y_train) / y_train.size, rtol=1e-10)


def test_objective_never_decreases_and_fixed_class_prior_is_kept(sub_topic_corpus):
    X, y_partial, *_ = sub_topic_corpus
    for init in ("labeled", "uniform", "random"):
        model = fit(X[:1500], y_partial[:1500], n_components_per_class=3, init=init, max_iter=30,
                    class_prior=[0.3, 0.7])
        assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))
        assert_allclose(np.exp(model.class_log_prior_), [0.3, 0.7], rtol=1e-12)


def test_warm_start_rejects_a_different_number_of_components(sub_topic_corpus):
    X, y_partial, *_ = sub_topic_corpus
    model = fit(X[:500], y_partial[:500], n_components_per_class=2, max_iter=2, warm_start=True)
    model.set_params(n_components_per_class=3)
    with pytest.raises(ValueError, match="n_components_per_class"):
        model.fit(X[:500], y_partial[:500])
