"""Clustering binarised handwritten digits with a Bernoulli mixture.

scikit-learn's bundled ``load_digits`` (1797 images of 8 x 8 pixels, grey
levels 0-16) is binarised (pixel > 7), stored as a sparse CSR matrix and
clustered into 10 components by :class:`fastem.BernoulliMixture`. The script
prints the normalised mutual information between the clusters and the true
digits, and saves the 10 component means (the probability that each pixel is
on) as an image when matplotlib is installed.

Run from the repository root::

    python examples/bernoulli_digits.py
"""
from pathlib import Path
import time

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from fastem import BernoulliMixture

OUTPUT = Path(__file__).with_name("bernoulli_digits_means.png")


def main():
    digits = load_digits()
    X = sp.csr_matrix((digits.data > 7).astype(np.float64))
    y = digits.target
    print(f"{X.shape[0]} images, {X.shape[1]} pixels, {X.nnz / np.prod(X.shape):.0%} on")

    # a light Beta(2, 2) prior keeps pixels that are never on in a component
    # away from probability 0; several restarts because EM finds local optima
    model = BernoulliMixture(n_components=10, beta_prior=(2.0, 2.0), n_init=10, max_iter=300,
                             tol=1e-6, random_state=0)
    start = time.perf_counter()
    labels = model.fit_predict(X)
    elapsed = time.perf_counter() - start
    nmi = normalized_mutual_info_score(y, labels)
    print(f"fit: {elapsed:.2f} s, {model.n_iter_} iterations, converged={model.converged_}, "
          f"objective per image {model.lower_bound_:.4f}")
    print(f"NMI against the true digits: {nmi:.4f}")
    # the majority digit of each component, in order of weight
    for k in np.argsort(-model.weights_):
        members = y[labels == k]
        top = np.bincount(members, minlength=10).argmax() if members.size else -1
        share = np.mean(members == top) if members.size else 0.0
        print(f"  component {k}: weight {model.weights_[k]:.3f}, mostly digit {top} ({share:.0%})")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the picture of the component means "
              "(pip install matplotlib to get it).")
        return
    order = np.argsort(-model.weights_)
    fig, axes = plt.subplots(1, 10, figsize=(12, 1.8))
    for ax, k in zip(axes, order):
        ax.imshow(model.means_[k].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(f"π={model.weights_[k]:.2f}", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"BernoulliMixture on binarised digits: component means (NMI {nmi:.3f})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(OUTPUT, dpi=100)
    print(f"saved {OUTPUT}")


if __name__ == "__main__":
    main()
