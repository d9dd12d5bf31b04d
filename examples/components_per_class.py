"""Several multinomial components per class (Nigam et al. 2000, §5.2).

When a class is itself a mixture of sub-topics, one multinomial per class is
the wrong model and EM on unlabelled documents can make the classifier worse
than Naive Bayes on the labelled documents alone. Giving each class a few
components fixes it. Synthetic corpus: 8 topics, class = topic % 2 (so each
class is a union of 4 topics), 200 labelled and 4800 unlabelled documents.

    python examples/components_per_class.py
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import MultinomialNB

from fastem import NaiveBayesEM
from fastem.datasets import make_corpus

PER_CLASS = (1, 2, 4, 8)

print(f"{'seed':>4} {'MNB':>6} " + " ".join(f"{'EM m=' + str(m):>7}" for m in PER_CLASS))
for seed in range(3):
    X, topic, _ = make_corpus(6000, 2000, 8, 60, separation=1.0, random_state=seed)
    y = topic % 2
    X_train, y_train, X_test, y_test = X[:5000], y[:5000], X[5000:], y[5000:]
    labeled = np.random.default_rng(seed).choice(5000, 200, replace=False)
    y_partial = np.full(5000, -1)
    y_partial[labeled] = y_train[labeled]
    row = [MultinomialNB(alpha=0.1).fit(X_train[labeled], y_train[labeled]).score(X_test, y_test)]
    for per_class in PER_CLASS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = NaiveBayesEM(alpha=0.1, n_components_per_class=per_class,
                                 random_state=seed).fit(X_train, y_partial)
        row.append(model.score(X_test, y_test))
    print(f"{seed:>4} " + " ".join(f"{a:>6.3f}" if i == 0 else f"{a:>7.3f}" for i, a in enumerate(row)))
print("Accuracy on 1000 held-out documents; m = n_components_per_class.")
