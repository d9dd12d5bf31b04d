"""Cluster the 20 Newsgroups training set with fastem.MultinomialMixture.

Prints, for each number of components, the normalised mutual information (NMI)
between the clusters and the true newsgroups (on the training documents and,
predicted, on the held-out test documents), the fit time, and the most
probable words of every component with its weight, as in seed 001 (problem 5,
Table 1), which shows K = 10, 20, 30 and 50:

    python examples/cluster_20newsgroups.py --n-components 10,20,30,50

The archive ``20news-bydate.tar.gz`` is taken from the first argument, else
from the FASTEM_DATA environment variable, else from
``../shared/data/20news/`` beside the repository.
"""
import argparse
from pathlib import Path
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score

from fastem import MultinomialMixture
from fastem.cli import int_list
from fastem.datasets import ARCHIVE_NAME, find_20newsgroups_archive, load_20newsgroups
from fastem.mixture import format_top_terms

DEFAULT_ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20news" / ARCHIVE_NAME


def _archive(arg):
    try:
        return find_20newsgroups_archive(arg, default=DEFAULT_ARCHIVE)
    except FileNotFoundError as exc:
        raise SystemExit(f"cluster_20newsgroups.py: {exc}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", help=f"path to {ARCHIVE_NAME} or its directory")
    parser.add_argument("--n-components", type=int_list, default=[20],
                        help="comma-separated numbers of components (default 20)")
    parser.add_argument("--alpha", type=float, default=1.0, help="smoothing (default 1.0)")
    parser.add_argument("--n-init", type=int, default=5, help="initialisations (default 5)")
    parser.add_argument("--max-iter", type=int, default=100, help="EM iterations (default 100)")
    parser.add_argument("--init-params", default="kmeans++",
                        choices=["kmeans++", "random", "random_from_data"])
    parser.add_argument("--n-terms", type=int, default=10, help="words per component (default 10)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--cache-dir", default=None, help="where to cache the counts")
    args = parser.parse_args(argv)
    archive = _archive(args.archive)

    start = time.perf_counter()
    train = load_20newsgroups("train", archive=archive, cache_dir=args.cache_dir)
    test = load_20newsgroups("test", archive=archive, cache_dir=args.cache_dir)
    print(f"20 Newsgroups bydate ({archive}), headers removed: {train.data.shape[0]} training and "
          f"{test.data.shape[0]} test documents, {train.data.shape[1]} words, "
          f"{len(train.target_names)} groups; loaded in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MultinomialMixture(2, max_iter=1, tol=0).fit(train.data[:50])
    print(f"JIT warm-up (compile or load the cached kernels): {time.perf_counter() - start:.2f} s")

    summary = []
    for n_components in args.n_components:
        model = MultinomialMixture(n_components, alpha=args.alpha, n_init=args.n_init,
                                   max_iter=args.max_iter, init_params=args.init_params,
                                   random_state=args.random_state)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported in the table
            model.fit(train.data)
        seconds = time.perf_counter() - start
        nmi_train = normalized_mutual_info_score(train.target, model.predict(train.data))
        nmi_test = normalized_mutual_info_score(test.target, model.predict(test.data))
        summary.append((n_components, model.n_iter_, model.converged_, model.lower_bound_,
                        nmi_train, nmi_test, seconds))
        print(f"\nK = {n_components}: {model.n_iter_} iterations "
              f"({'converged' if model.converged_ else 'not converged'}), objective "
              f"{model.lower_bound_:.3f} per document, NMI train {nmi_train:.3f} / test "
              f"{nmi_test:.3f}, fit {seconds:.2f} s (n_init={args.n_init}, alpha={args.alpha})")
        print(format_top_terms(model.top_terms(train.feature_names, n=args.n_terms)))

    print(f"\n{'K':>4} {'iters':>5} {'conv':>5} {'objective':>10} {'NMI train':>9} "
          f"{'NMI test':>8} {'fit s':>7}")
    for k, n_iter, converged, bound, a, b, seconds in summary:
        print(f"{k:>4} {n_iter:>5} {str(converged):>5} {bound:>10.3f} {a:>9.3f} {b:>8.3f} "
              f"{seconds:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
