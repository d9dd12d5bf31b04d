"""Seeded synthetic corpora shared by the benchmarks, built once per process."""
import functools

import numpy as np

from fastem.datasets import make_corpus


@functools.lru_cache(maxsize=None)
def corpus(n_samples=20000, n_features=20000, n_classes=20, doc_length=100, seed=0):
    """A make_corpus corpus and semi-supervised labels (1 % labelled, every class present)."""
    X, y, params = make_corpus(n_samples, n_features, n_classes, doc_length, separation=0.5,
                               random_state=seed)
    y_partial = np.full(n_samples, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n_labeled = max(n_classes, n_samples // 100)
    labeled = rng.choice(n_samples, size=n_labeled, replace=False)
    labeled[:n_classes] = [np.flatnonzero(y == k)[0] for k in range(n_classes)]
    y_partial[labeled] = y[labeled]
    return X, y, y_partial
