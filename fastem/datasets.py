"""Data sets: a seeded synthetic bag-of-words corpus with known parameters."""
import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state


def make_corpus(n_samples=1000, n_features=1000, n_classes=5, doc_length=100, *,
                separation=1.0, zipf_exponent=1.1, random_state=None):
    """Sample a bag-of-words corpus from a known mixture of multinomials.

    Word frequencies follow a Zipf-like law shared by all classes; each class
    multiplies it by its own log-normal factors (standard deviation
    ``separation``), so classes differ in which words they favour, as topics
    do. Documents draw a class from the class prior, a length from a Poisson
    law with mean ``doc_length`` (at least 1), and that many words from the
    class's word distribution.

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        Size of the corpus and number of classes (mixture components).
    doc_length : float, default=100
        Mean number of words per document.
    separation : float, default=1.0
        Spread of the per-class log-normal factors; larger is easier.
    zipf_exponent : float, default=1.1
        Exponent ``s`` of the shared base frequencies ``1 / rank**s``.
    random_state : int, RandomState instance or None
        Seed.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64 counts
    y : ndarray of shape (n_samples,), int64 class of each document
    params : Bunch
        ``class_prior`` [n_classes] and ``feature_prob`` [n_classes, n_features]
        (rows sum to 1): the parameters the corpus was sampled from.
    """
    for name, value in (("n_samples", n_samples), ("n_features", n_features),
                        ("n_classes", n_classes)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if doc_length <= 0:
        raise ValueError(f"doc_length must be positive, got {doc_length!r}.")
    rng = check_random_state(random_state)
    base = 1.0 / np.arange(1, n_features + 1) ** zipf_exponent
    base = base[rng.permutation(n_features)]
    feature_prob = base * np.exp(separation * rng.standard_normal((n_classes, n_features)))
    feature_prob /= feature_prob.sum(axis=1, keepdims=True)
    class_prior = rng.dirichlet(np.full(n_classes, 5.0))

    y = rng.choice(n_classes, size=n_samples, p=class_prior).astype(np.int64)
    lengths = np.maximum(rng.poisson(doc_length, size=n_samples), 1)
    rows, cols = [], []
    for k in range(n_classes):
        docs = np.flatnonzero(y == k)
        n_tokens = int(lengths[docs].sum())
        if n_tokens == 0:
            continue
        cdf = np.cumsum(feature_prob[k])
        words = np.searchsorted(cdf, rng.random_sample(n_tokens) * cdf[-1], side="right")
        rows.append(np.repeat(docs, lengths[docs]))
        cols.append(np.minimum(words, n_features - 1))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n_samples, n_features))
    X.sum_duplicates()
    return X, y, Bunch(class_prior=class_prior, feature_prob=feature_prob)
