"""Nothing of size n_samples x n_features is created: fitting and predicting on
sparse input must never call a densifying method."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastem import NaiveBayesEM
from fastem.datasets import make_corpus


@pytest.fixture
def no_densify(monkeypatch):
    def boom(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)


def test_fit_and_predict_never_densify(no_densify):
    X, y, _ = make_corpus(300, 100, 3, 30, random_state=0)
    y_partial = y.copy()
    y_partial[30:] = -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for labels in (y, y_partial, None):
            model = NaiveBayesEM(n_classes=3, max_iter=5, random_state=0).fit(X.tocoo(), labels)
            model.predict(X)
            model.predict_proba(sp.csr_array(X))
            model.score_samples(X.tocsc())
    assert np.isfinite(model.lower_bound_)
