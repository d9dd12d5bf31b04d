"""The ``fastem`` command line."""
import argparse
import sys
import time
import warnings

import numpy as np


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def demo(args, out=None):
    """Supervised NB on a few labels versus NaiveBayesEM with the rest unlabelled."""
    out = sys.stdout if out is None else out
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.naive_bayes import MultinomialNB

    from . import NaiveBayesEM
    from .datasets import make_corpus

    n_train = args.n_samples
    if max(args.labeled) > n_train:
        raise SystemExit(f"fastem demo: error: --labeled {max(args.labeled)} exceeds --n-samples {n_train}")
    start = time.perf_counter()
    X, y, _ = make_corpus(n_train + args.n_test, args.n_features, args.n_classes, args.doc_length,
                          separation=args.separation, random_state=args.random_state)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    print(f"Synthetic corpus (fastem.datasets.make_corpus, random_state={args.random_state}): "
          f"{n_train} training + {args.n_test} test documents, {args.n_features} words, "
          f"{args.n_classes} classes, {X.nnz} non-zeros; made in {time.perf_counter() - start:.2f} s",
          file=out)
    # Compile the kernels once so that the timings below measure fitting.
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NaiveBayesEM(alpha=args.alpha, max_iter=1).fit(X_train[:50], np.where(np.arange(50) < 10, y_train[:50], -1))
    print(f"JIT warm-up (compile or load the cached kernels): {time.perf_counter() - start:.2f} s", file=out)
    print("", file=out)
    header = f"{'labelled':>9} {'unlabelled':>10} | {'NB acc':>7} {'NB fit s':>8} | {'NB-EM acc':>9} {'NB-EM fit s':>11} {'iters':>5}"
    print(header, file=out)
    print("-" * len(header), file=out)
    # labelled rows taken round-robin over the classes, so every class has some
    by_class = [np.flatnonzero(y_train == k) for k in range(args.n_classes)]
    order = np.array([rows[i] for i in range(n_train) for rows in by_class if i < rows.size])
    for n_labeled in args.labeled:
        labeled = order[:n_labeled]
        y_partial = np.full(n_train, -1, dtype=np.int64)
        y_partial[labeled] = y_train[labeled]
        t0 = time.perf_counter()
        nb = MultinomialNB(alpha=args.alpha).fit(X_train[labeled], y_train[labeled])
        t_nb = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            em = NaiveBayesEM(alpha=args.alpha, max_iter=args.max_iter,
                              random_state=args.random_state).fit(X_train, y_partial)
        t_em = time.perf_counter() - t0
        print(f"{n_labeled:>9} {n_train - n_labeled:>10} | {nb.score(X_test, y_test):>7.3f} {t_nb:>8.3f} | "
              f"{em.score(X_test, y_test):>9.3f} {t_em:>11.3f} {em.n_iter_:>5}", file=out)
    print("", file=out)
    print("NB: scikit-learn MultinomialNB on the labelled rows only. NB-EM: fastem.NaiveBayesEM on the "
          "labelled plus unlabelled rows. Accuracy on the held-out test documents.", file=out)
    return 0


def bench(args, out=None):
    """Time one EM iteration and a supervised fit against plain SciPy and
    scikit-learn in one process, on a seeded synthetic corpus."""
    from .bench import run

    if args.repeat < 1 or args.nnz < 1:
        raise SystemExit("fastem bench: error: --repeat and --nnz must be at least 1")
    run(n_samples=args.n_samples, n_features=args.n_features, nnz=args.nnz,
        n_components=args.n_components, n_threads=-1 if args.threads is None else args.threads,
        repeat=args.repeat, alpha=args.alpha, random_state=args.random_state, out=out)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastem", description="Fast EM on sparse data.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="semi-supervised Naive Bayes on a synthetic corpus",
                       description=demo.__doc__)
    p.add_argument("--n-samples", type=int, default=20000, help="training documents (default 20000)")
    p.add_argument("--n-test", type=int, default=5000, help="test documents (default 5000)")
    p.add_argument("--n-features", type=int, default=5000, help="vocabulary size (default 5000)")
    p.add_argument("--n-classes", type=int, default=10, help="classes (default 10)")
    p.add_argument("--doc-length", type=float, default=60, help="mean words per document (default 60)")
    p.add_argument("--separation", type=float, default=0.5,
                   help="how different the classes' word distributions are (default 0.5)")
    p.add_argument("--labeled", type=_int_list, default=[30, 100, 300],
                   help="comma-separated numbers of labelled documents (default 30,100,300)")
    p.add_argument("--alpha", type=float, default=0.1, help="smoothing (default 0.1)")
    p.add_argument("--max-iter", type=int, default=100, help="EM iterations at most (default 100)")
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=demo)

    p = sub.add_parser("bench", help="time fastem against SciPy and scikit-learn on a seeded corpus",
                       description=bench.__doc__)
    p.add_argument("--n-samples", type=int, default=100_000, help="documents (default 100000)")
    p.add_argument("--n-features", type=int, default=100_000, help="vocabulary size (default 100000)")
    p.add_argument("--nnz", type=int, default=9_000_000, help="approximate non-zeros (default 9000000)")
    p.add_argument("-k", "--n-components", type=_int_list, default=[2, 5, 16, 20, 50, 100],
                   help="comma-separated numbers of components (default 2,5,16,20,50,100)")
    p.add_argument("--threads", type=int, default=None,
                   help="Numba threads (default: all of them)")
    p.add_argument("--repeat", type=int, default=3, help="timings per case, best kept (default 3)")
    p.add_argument("--alpha", type=float, default=0.01, help="smoothing (default 0.01)")
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    for name in ("n_samples", "n_test", "n_features", "n_classes"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
