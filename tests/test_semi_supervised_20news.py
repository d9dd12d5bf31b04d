"""Nigam et al. (2000) on the real 20 Newsgroups bydate split (issue 6).

300 labelled training documents (15 per group, stratified, seeded) plus
10,000 unlabelled ones from the rest of the training split; accuracy on the
7,532 test documents. On raw counts NaiveBayesEM must beat supervised
MultinomialNB with the same alpha by at least 10 points and reach 0.60; on
DocumentNormalizer features (log tf, idf, rows summing to 10) it must reach
0.70, and beat MultinomialNB on the same features at 3000 labelled. The
settings are those of ``examples/semi_supervised_20newsgroups.py`` (chosen
there on a development split held out from the training split, not on the
test split).

Skipped when the archive is absent (``FASTEM_DATA``, else
``../shared/data/20news/`` beside the repository), like
``tests/test_datasets_20news.py``. About 10 s with a warm cache.
"""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

from fastem import DocumentNormalizer, NaiveBayesEM
from fastem.datasets import load_20newsgroups

from helpers import REAL_ARCHIVE, needs_20news  # noqa: E402

pytestmark = needs_20news

ALPHA = 0.03
UNLABELED_WEIGHT = 0.3
# on DocumentNormalizer(length=10) features
NORMALIZED = dict(alpha=0.03, unlabeled_weight=1.0)


@pytest.fixture(scope="module")
def news():
    # the loader's own cache ($FASTEM_CACHE, else ~/.cache/fastem): a cold
    # load vectorises the archive once, later runs read the npz
    train = load_20newsgroups("train", archive=REAL_ARCHIVE)
    test = load_20newsgroups("test", archive=REAL_ARCHIVE)
    return train, test


def _split(y, n_labeled, n_unlabeled, seed):
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    labelled = np.concatenate([rng.choice(np.flatnonzero(y == c), n_labeled // classes.size,
                                          replace=False) for c in classes])
    rest = np.setdiff1d(np.arange(y.size), labelled)
    return labelled, rng.choice(rest, n_unlabeled, replace=False)


def test_em_beats_naive_bayes_with_300_labelled(news):
    train, test = news
    X, y = train.data, train.target
    labelled, unlabelled = _split(y, 300, 10_000, seed=0)
    assert np.all(np.bincount(y[labelled]) == 15)
    assert np.intersect1d(labelled, unlabelled).size == 0

    nb, em = _fit_pair(X, y, labelled, unlabelled,
                       dict(alpha=ALPHA, unlabeled_weight=UNLABELED_WEIGHT))

    nb_accuracy = nb.score(test.data, test.target)
    em_accuracy = em.score(test.data, test.target)
    assert em_accuracy >= 0.60, (nb_accuracy, em_accuracy)
    assert em_accuracy >= nb_accuracy + 0.10, (nb_accuracy, em_accuracy)
    # EM never lowered its objective
    assert np.all(np.diff(em.lower_bounds_) >= -1e-9 * np.abs(em.lower_bounds_[:-1]))


def _fit_pair(X, y, labelled, unlabelled, params):
    nb = MultinomialNB(alpha=params["alpha"]).fit(X[labelled], y[labelled])
    rows = np.concatenate([labelled, unlabelled])
    y_partial = np.full(rows.size, -1)
    y_partial[:labelled.size] = y[labelled]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = NaiveBayesEM(**params, random_state=0).fit(X[rows], y_partial)
    return nb, em


@pytest.mark.parametrize("n_labeled, n_unlabeled", [(300, 10_000), (3000, 8_314)])
def test_normalized_features_reach_070_and_never_lose_to_naive_bayes(news, n_labeled, n_unlabeled):
    train, test = news
    # idf from the training split only (no labels are used)
    normalizer = DocumentNormalizer(length=10.0).fit(train.data)
    X, X_test = normalizer.transform(train.data), normalizer.transform(test.data)
    labelled, unlabelled = _split(train.target, n_labeled, n_unlabeled, seed=0)
    nb, em = _fit_pair(X, train.target, labelled, unlabelled, NORMALIZED)
    nb_accuracy = nb.score(X_test, test.target)
    em_accuracy = em.score(X_test, test.target)
    assert em_accuracy > nb_accuracy, (nb_accuracy, em_accuracy)
    if n_labeled == 300:
        assert em_accuracy >= 0.70, (nb_accuracy, em_accuracy)
    assert np.all(np.diff(em.lower_bounds_) >= -1e-9 * np.abs(em.lower_bounds_[:-1]))
