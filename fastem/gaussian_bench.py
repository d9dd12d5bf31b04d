"""Benchmark of :class:`fastem.GaussianMixture` against scikit-learn's, per
covariance type, in one process (to be wired into ``fastem bench``).

Both estimators start from the same parameters (``weights_init``,
``means_init``, ``precisions_init``) and run a fixed number of iterations
(``tol=0``). Seconds per iteration are ``(t(n_iter) - t(1)) / (n_iter - 1)``
(each the best of ``repeat`` runs), so the initialisation (which scikit-learn
performs even when every ``*_init`` is given) and the final E-step are not
counted. The machine's load shows in these numbers: on a busy 2-core box run
it twice. Peak memory is the resident
memory each fit added (Linux high-water mark).
"""
import time
import warnings

import numpy as np

from .bench import _peak_rss_mb
from .gaussian import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _make_data(n_samples, n_features, n_components, seed=0):
    rng = np.random.RandomState(seed)
    centers = 3.0 * rng.randn(n_components, n_features)
    labels = rng.randint(n_components, size=n_samples)
    X = centers[labels] + rng.randn(n_samples, n_features) * rng.uniform(0.5, 1.5, n_features)
    return X


def _start(X, n_components, covariance_type, seed=0):
    """Starting parameters: K random rows as means, equal weights, unit precisions."""
    rng = np.random.RandomState(seed)
    d = X.shape[1]
    means = X[rng.choice(X.shape[0], n_components, replace=False)]
    precisions = {"full": np.repeat(np.eye(d)[None], n_components, axis=0), "tied": np.eye(d),
                  "diag": np.ones((n_components, d)), "spherical": np.ones(n_components)}
    return dict(weights_init=np.full(n_components, 1.0 / n_components), means_init=means,
                precisions_init=precisions[covariance_type], init_params="random_from_data")


def _time_fit(cls, X, n_iter, kwargs):
    model = cls(max_iter=n_iter, tol=0, **kwargs)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return time.perf_counter() - start, model


def run_gaussian(n_samples=200_000, n_features=32, n_components=16, n_iter=10,
                 covariance_types=COVARIANCE_TYPES, n_jobs=None, seed=0, repeat=2, out=None):
    """Time fastem vs scikit-learn GaussianMixture per covariance type and print a table.

    Each timing is the best of ``repeat`` runs (at least 1). The table goes to
    ``out`` (default: standard output).

    Returns a list of dicts (one per covariance type) with the seconds per
    iteration of each, their ratio (scikit-learn / fastem), the relative
    difference of the final mean log-likelihoods, and the peak memory each
    fit added in MiB.
    """
    import sys

    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat!r}.")
    out = sys.stdout if out is None else out
    X = _make_data(n_samples, n_features, n_components, seed)
    rows = []
    print(f"GaussianMixture: n_samples={n_samples}, n_features={n_features}, "
          f"K={n_components}, {n_iter} iterations (tol=0)", file=out)
    print(f"{'covariance':>10} {'fastem s/it':>12} {'sklearn s/it':>13} {'ratio':>7} "
          f"{'rel diff':>9} {'fastem MiB':>11} {'sklearn MiB':>12}", file=out)
    for ctype in covariance_types:
        common = dict(n_components=n_components, covariance_type=ctype,
                      **_start(X, n_components, ctype, seed))
        fe_kw = dict(common, n_jobs=n_jobs)
        _time_fit(GaussianMixture, X[:2000], 2, fe_kw)  # JIT warm-up
        per_iter = {}
        models = {}
        memory = {}
        for name, cls, kw in (("fastem", GaussianMixture, fe_kw),
                              ("sklearn", SkGaussianMixture, common)):
            # memory first: the first full-size fit, before repeats warm the allocator
            (tn, model), mem = _peak_rss_mb(lambda: _time_fit(cls, X, n_iter, kw))
            for _ in range(repeat - 1):
                tn = min(tn, _time_fit(cls, X, n_iter, kw)[0])
            t1 = min(_time_fit(cls, X, 1, kw)[0] for _ in range(repeat))
            per_iter[name] = (tn - t1) / max(n_iter - 1, 1)
            models[name] = model
            memory[name] = mem
        a, b = models["fastem"].score(X), models["sklearn"].score(X)
        rel = abs(a - b) / abs(b)
        row = dict(covariance_type=ctype, fastem_s_per_iter=per_iter["fastem"],
                   sklearn_s_per_iter=per_iter["sklearn"],
                   ratio=per_iter["sklearn"] / per_iter["fastem"], rel_diff=rel,
                   fastem_peak_mib=memory["fastem"], sklearn_peak_mib=memory["sklearn"])
        rows.append(row)
        fmt = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
        print(f"{ctype:>10} {row['fastem_s_per_iter']:>12.4f} {row['sklearn_s_per_iter']:>13.4f} "
              f"{row['ratio']:>7.2f} {rel:>9.1e} {fmt(memory['fastem']):>11} "
              f"{fmt(memory['sklearn']):>12}", file=out, flush=True)
    return rows


if __name__ == "__main__":
    run_gaussian()
