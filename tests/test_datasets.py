import numpy as np
import pytest
import scipy.sparse as sp

from fastem.datasets import make_corpus


def test_make_corpus_shapes_and_parameters():
    X, y, params = make_corpus(n_samples=300, n_features=80, n_classes=4, doc_length=30, random_state=1)
    assert sp.issparse(X) and X.format == "csr" and X.shape == (300, 80)
    assert y.shape == (300,) and set(np.unique(y)) <= set(range(4))
    assert params.feature_prob.shape == (4, 80)
    np.testing.assert_allclose(params.feature_prob.sum(axis=1), 1.0)
    np.testing.assert_allclose(params.class_prior.sum(), 1.0)
    assert X.data.min() >= 1 and np.all(X.data == np.round(X.data))
    assert np.asarray(X.sum(axis=1)).min() >= 1  # every document has a word


def test_make_corpus_is_seeded():
    a = make_corpus(50, 20, 3, 10, random_state=7)
    b = make_corpus(50, 20, 3, 10, random_state=7)
    c = make_corpus(50, 20, 3, 10, random_state=8)
    assert (a[0] != b[0]).nnz == 0 and np.array_equal(a[1], b[1])
    assert (a[0] != c[0]).nnz > 0


def test_make_corpus_follows_its_parameters():
    # Large sample: empirical word frequencies per class approach feature_prob.
    X, y, params = make_corpus(4000, 30, 2, 200, random_state=0)
    for k in range(2):
        counts = np.asarray(X[y == k].sum(axis=0)).ravel()
        np.testing.assert_allclose(counts / counts.sum(), params.feature_prob[k], atol=0.004)
    np.testing.assert_allclose(np.bincount(y) / y.size, params.class_prior, atol=0.03)
    lengths = np.asarray(X.sum(axis=1)).ravel()
    assert abs(lengths.mean() - 200) < 2


@pytest.mark.parametrize("kwargs", [dict(n_samples=0), dict(n_features=-1), dict(n_classes=1.5),
                                    dict(doc_length=0)])
def test_make_corpus_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError):
        make_corpus(**{**dict(n_samples=10, n_features=5, n_classes=2, doc_length=5), **kwargs})
