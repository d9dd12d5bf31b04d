"""The ``fastem`` command line."""
import argparse
import ast
from contextlib import contextmanager, nullcontext
import math
import os
import stat
import sys
import time
import warnings

import numpy as np

from ._base import progress


def int_list(text):
    """argparse type: comma-separated positive integers."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _as_int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")


def _int_at_least(minimum):
    """argparse type: an integer of at least ``minimum``."""
    def parse(text):
        value = _as_int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


positive_int, non_negative_int = _int_at_least(1), _int_at_least(0)


def random_seed(text):
    """argparse type: a NumPy seed, an integer from 0 to 2**32 - 1."""
    value = non_negative_int(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32, got {value}")
    return value


def thread_count(text):
    """argparse type: a Numba thread count, as n_jobs (negative counts back from all, -1 = all)."""
    value = _as_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads has no meaning; give a positive number, "
                                         "or a negative one to count back from all (-1 = all)")
    return value


def _finite_float(minimum=None, strict=False):
    """argparse type: a finite number, at least (above, when ``strict``) ``minimum``."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if strict else 'at least'} {minimum:g}, got {text}")
        return value
    return parse


finite_float, non_negative_float, positive_float = (
    _finite_float(), _finite_float(0.0), _finite_float(0.0, strict=True))


class CommandError(Exception):
    """A user error: reported as one line on stderr, exit status 2 (usage,
    missing or unreadable files) or 1 (the fit itself failed)."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


@contextmanager
def _refused_values(prefix=""):
    """A ValueError or TypeError from the library (a value it refused;
    scikit-learn's InvalidParameterError is a ValueError) as a one-line
    CommandError, exit status 1."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{prefix}{exc}", status=1)


#: Labelled documents per row of the 20 Newsgroups demo table, and the cap on
#: the unlabelled ones (Nigam et al. used 10,000).
NEWS_LABELED = [100, 300, 1000]
NEWS_UNLABELED = 10_000
#: the demo's smoothing: synthetic corpus, 20 Newsgroups on DocumentNormalizer
#: features (rows summing to 10), 20 Newsgroups on raw counts (--raw); the
#: 20 Newsgroups values are those examples/semi_supervised_20newsgroups.py chose
#: on a development split
SYNTHETIC_ALPHA, NEWS_ALPHA, NEWS_RAW_ALPHA = 0.1, 0.03, 0.03
#: the demo's plot, in the current directory
DEMO_PNG = "fastem-demo.png"
#: weight of the unlabelled rows on raw 20 Newsgroups counts (1 elsewhere)
NEWS_RAW_UNLABELED_WEIGHT = 0.3
#: seconds a fit runs before ``fastem fit`` shows its progress on a terminal
PROGRESS_DELAY = 1.0


def demo(args, out=None):
    """Supervised NB on a few labels versus NaiveBayesEM with the rest
    unlabelled: on the 20 Newsgroups archive when --archive or FASTEM_DATA
    names it, otherwise on a synthetic corpus."""
    out = sys.stdout if out is None else out
    args.png = _png_path(args.png)
    with _refused_values():
        if not args.synthetic and (args.archive or os.environ.get("FASTEM_DATA")):
            # no --archive: load_20newsgroups reads FASTEM_DATA itself, and names it in its errors
            return _demo_20newsgroups(args, args.archive or None, out)
        return _demo_synthetic(args, out)


def _demo_synthetic(args, out):
    labeled = args.labeled or [30, 100, 300]
    n_train = args.n_samples
    if max(labeled) > n_train:
        raise CommandError(f"--labeled {max(labeled)} exceeds --n-samples {n_train}")
    args.alpha = SYNTHETIC_ALPHA if args.alpha is None else args.alpha
    from .datasets import make_corpus

    start = time.perf_counter()
    X, y, _ = make_corpus(n_train + args.n_test, args.n_features, args.n_classes, args.doc_length,
                          separation=args.separation, random_state=args.random_state)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    print(f"Synthetic corpus (fastem.datasets.make_corpus, random_state={args.random_state}): "
          f"{n_train} training + {args.n_test} test documents, {args.n_features} words, "
          f"{args.n_classes} classes, {X.nnz} non-zeros; made in {time.perf_counter() - start:.2f} s",
          file=out)
    # labelled rows taken round-robin over the classes, so every class has some
    by_class = [np.flatnonzero(y_train == k) for k in range(args.n_classes)]
    order = np.array([rows[i] for i in range(n_train) for rows in by_class if i < rows.size])
    _demo_table(X_train, y_train, X_test, y_test, order, labeled, None, args, out)
    return 0


def _demo_20newsgroups(args, archive, out):
    from .datasets import load_20newsgroups

    start = time.perf_counter()
    try:
        train = load_20newsgroups("train", archive=archive)
        test = load_20newsgroups("test", archive=archive)
    except (OSError, ValueError) as exc:  # not found, unreadable, or not the bydate archive
        raise CommandError(f"{exc} (run 'fastem demo --synthetic' for the synthetic corpus)")
    X_train, y_train, X_test, y_test = train.data, train.target, test.data, test.target
    if args.raw:
        features = "raw word counts"
        default_alpha = NEWS_RAW_ALPHA
        args.unlabeled_weight = NEWS_RAW_UNLABELED_WEIGHT
    else:
        from .preprocessing import DocumentNormalizer

        # idf from the training split; every document scaled to sum 10
        normalizer = DocumentNormalizer().fit(X_train)
        X_train, X_test = normalizer.transform(X_train), normalizer.transform(X_test)
        features = "DocumentNormalizer: log(1 + count), idf, each document scaled to sum 10"
        default_alpha = NEWS_ALPHA
    args.alpha = default_alpha if args.alpha is None else args.alpha
    labeled = args.labeled or NEWS_LABELED
    if max(labeled) >= X_train.shape[0]:
        raise CommandError(f"--labeled {max(labeled)} leaves no unlabelled training documents "
                           f"(the training split has {X_train.shape[0]})")
    print(f"20 Newsgroups bydate (fastem.datasets.load_20newsgroups, headers removed): "
          f"{X_train.shape[0]} training + {X_test.shape[0]} test documents, {X_train.shape[1]} words, "
          f"{len(train.target_names)} classes; loaded in {time.perf_counter() - start:.2f} s", file=out)
    print(f"features: {features}; alpha={args.alpha}, "
          f"unlabeled_weight={getattr(args, 'unlabeled_weight', 1.0)}", file=out)
    # labelled rows: a seeded shuffle of each newsgroup, taken round-robin
    rng = np.random.RandomState(args.random_state)
    by_class = [rng.permutation(np.flatnonzero(y_train == k)) for k in range(len(train.target_names))]
    order = np.array([rows[i] for i in range(X_train.shape[0]) for rows in by_class if i < rows.size])
    _demo_table(X_train, y_train, X_test, y_test, order, labeled, NEWS_UNLABELED, args, out)
    return 0


def _demo_table(X_train, y_train, X_test, y_test, order, labeled_sizes, max_unlabeled, args, out):
    """Print the NB versus NB-EM table: for each size, the first ``n`` rows of
    ``order`` are labelled and the next ones (at most ``max_unlabeled``, all
    when None) unlabelled."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.naive_bayes import MultinomialNB

    from . import NaiveBayesEM

    # Compile the kernels once so that the timings below measure fitting.
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NaiveBayesEM(alpha=args.alpha, max_iter=1).fit(X_train[:50], np.where(np.arange(50) < 10, y_train[:50], -1))
    print(f"JIT warm-up (compile or load the cached kernels): {time.perf_counter() - start:.2f} s", file=out)
    print(file=out)
    accuracy = {"MultinomialNB": [], "NaiveBayesEM": []}
    header = f"{'labelled':>9} {'unlabelled':>10} | {'NB acc':>7} {'NB fit s':>8} | {'NB-EM acc':>9} {'NB-EM fit s':>11} {'iters':>5}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for n_labeled in labeled_sizes:
        labeled = order[:n_labeled]
        if max_unlabeled is None:  # every training row, in its own order
            rows = np.arange(X_train.shape[0])
            y_partial = np.full(rows.size, -1, dtype=np.int64)
            y_partial[labeled] = y_train[labeled]
        else:
            rows = order[:n_labeled + max_unlabeled]
            y_partial = np.full(rows.size, -1, dtype=np.int64)
            y_partial[:n_labeled] = y_train[labeled]
        t0 = time.perf_counter()
        nb = MultinomialNB(alpha=args.alpha).fit(X_train[labeled], y_train[labeled])
        t_nb = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            em = NaiveBayesEM(alpha=args.alpha, max_iter=args.max_iter,
                              unlabeled_weight=getattr(args, "unlabeled_weight", 1.0),
                              random_state=args.random_state).fit(X_train[rows], y_partial)
        t_em = time.perf_counter() - t0
        accuracy["MultinomialNB"].append([nb.score(X_test, y_test)])
        accuracy["NaiveBayesEM"].append([em.score(X_test, y_test)])
        print(f"{n_labeled:>9} {rows.size - n_labeled:>10} | {accuracy['MultinomialNB'][-1][0]:>7.3f} "
              f"{t_nb:>8.3f} | {accuracy['NaiveBayesEM'][-1][0]:>9.3f} {t_em:>11.3f} {em.n_iter_:>5}",
              file=out)
    print(file=out)
    print("NB: scikit-learn MultinomialNB on the labelled rows only. NB-EM: fastem.NaiveBayesEM on the "
          "labelled plus unlabelled rows. Accuracy on the held-out test documents.", file=out)
    if args.png:
        _demo_plot(labeled_sizes, accuracy, args.png, out)


def _png_path(text):
    """The file ``--png`` names, checked before the demo runs: None for '' (no
    plot); a name without an extension gets ``.png`` here, as matplotlib would
    add it, so that the path reported is the one written. A directory, or an
    extension matplotlib cannot write, is a usage error."""
    if not text:
        return None
    if os.path.isdir(text):
        raise CommandError(f"--png {text!r} is a directory; give a file name, such as "
                           f"{os.path.join(text, DEMO_PNG)!r}")
    ext = os.path.splitext(text)[1]
    if not ext[1:]:
        return text.rstrip(".") + ".png"
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return text  # no plot will be drawn
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext[1:].lower() not in formats:
        raise CommandError(f"--png {text!r}: matplotlib cannot write {ext} files; use a name "
                           f"ending in .png (or {', '.join('.' + f for f in sorted(formats))})")
    return text


def _demo_plot(labeled_sizes, accuracy, path, out):
    """Accuracy against the number of labelled documents, as a PNG (needs matplotlib)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    except ImportError:
        print("matplotlib is not installed (pip install 'fastem[plot]'): no plot written.", file=out)
        return
    from .plotting import plot_accuracy_curve

    fig = Figure(figsize=(6.4, 4.4))
    plot_accuracy_curve(labeled_sizes, accuracy, ax=fig.subplots())
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}")
    except ValueError as exc:  # a format matplotlib's backend cannot write
        raise CommandError(f"cannot write {str(path)!r}: {exc}")
    print(f"plot written to {path}", file=out)


# ------------------------------------------------------------------ fit / predict
def _estimators():
    """The estimator classes fastem exports that 'fastem predict' can use
    (those with a predict method), by name."""
    import fastem

    return {name: obj for name, obj in ((n, getattr(fastem, n)) for n in fastem.__all__)
            if isinstance(obj, type) and hasattr(obj, "predict")}


#: Parameters 'fastem fit' gives a model unless --param says otherwise: DATA is
#: read as a sparse matrix, which GaussianMixture takes for 'diag' and
#: 'spherical' covariances only (its Python default, 'full', needs dense input).
FIT_DEFAULTS = {"GaussianMixture": {"covariance_type": "diag"}}


def _parse_param(text):
    """``name=value`` with the value read as a Python literal (``0.1``,
    ``True``, ``None``, ``(1, 1)``), else kept as a string."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
        raise CommandError(f"--param expects name=value, got {text!r}")
    try:
        value = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = value.strip()
    return name, value


def _read_labels(path, n_samples):
    """One label per line; ``-1``, ``nan`` (any case) or an empty line marks
    an unlabelled row. Whole numbers give int labels (strings when one does
    not fit in int64), other numbers floats, anything else strings."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except FileNotFoundError:
        raise CommandError(f"labels file {str(path)!r}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"labels file {str(path)!r}: cannot read it as text: {exc}")
    # one trailing empty line is an end-of-file newline, not an unlabelled row
    if len(lines) == n_samples + 1 and lines[-1] == "":
        lines.pop()
    if len(lines) != n_samples:
        raise CommandError(f"labels file {str(path)!r} has {len(lines)} lines but the data has "
                           f"{n_samples} rows (one label per line; -1, nan or empty = unlabelled)")
    missing = np.array([v == "" or v == "-1" or v.lower() == "nan" for v in lines])
    given = [v for v, m in zip(lines, missing) if not m]
    for kind, marker in ((int, -1), (float, np.nan)):
        try:
            values = [kind(v) for v in given]
        except ValueError:
            continue
        if kind is int and any(not -2**63 <= v < 2**63 for v in values):
            break  # beyond int64: kept as text, since as floats two such labels could merge
        y = np.full(n_samples, marker, dtype=np.int64 if kind is int else np.float64)
        y[~missing] = values
        return y
    y = np.full(n_samples, None, dtype=object)
    y[~missing] = given
    return y


def _load_data(path, **kwargs):
    from .datasets import _read_sparse

    try:
        return _read_sparse(path, **kwargs)
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(f"data file {exc}")


def _report_warnings(caught):
    for w in caught:
        print(f"fastem: warning: {w.message}", file=sys.stderr)


def _check_output(output, inputs):
    """Refuse, before any work, an ``-o`` file that cannot or must not be
    written: a directory, or one of the command's ``inputs`` (``(what, path)``
    pairs; a path may be None), which writing would destroy (a hard or
    symbolic link to an input is that input). Other existing regular files are
    replaced, as ``cp`` and ``joblib.dump`` do; devices (``/dev/stdout``) are
    written to, even when an input is the same device."""
    if output is None:
        return
    try:
        mode = os.stat(output).st_mode
    except OSError:  # does not exist yet (or cannot be read): nothing to destroy
        return
    if stat.S_ISDIR(mode):
        raise CommandError(f"-o {output!r} is a directory; give a file name")
    if not stat.S_ISREG(mode):
        return  # a device: written to, whatever the inputs
    for what, path in inputs:
        try:
            same = path is not None and os.path.samefile(output, path)
        except OSError:  # the input does not exist: its own check reports that
            same = False
        if same:
            raise CommandError(f"-o {output!r} is the {what} {path!r}; writing there would "
                               f"destroy it: choose another output file")


def fit(args, out=None):
    """Fit a fastem estimator to a svmlight/libsvm or .npz file and save it with joblib."""
    import joblib
    from sklearn.base import is_classifier
    from sklearn.utils import get_tags

    out = sys.stdout if out is None else out
    _check_output(args.output, [("data file", args.data), ("labels file", args.labels)])
    estimators = _estimators()
    if args.model not in estimators:
        raise CommandError(f"unknown model {args.model!r}; choose from {', '.join(sorted(estimators))}")
    estimator = estimators[args.model]()
    valid = estimator.get_params()
    params = {**FIT_DEFAULTS.get(args.model, {}), **dict(_parse_param(p) for p in args.param)}
    if args.n_components is not None:
        name = next((n for n in ("n_components", "n_classes") if n in valid), None)
        if name is None:
            raise CommandError(f"{args.model} has no n_components or n_classes parameter")
        if name in params:
            raise CommandError(f"--n-components and --param {name}=... both given; give one")
        params[name] = args.n_components
    if args.verbose:
        params.setdefault("verbose", 1)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise CommandError(f"{args.model} has no parameter {unknown[0]!r}; its parameters are "
                           f"{', '.join(sorted(valid))}")
    estimator.set_params(**params)
    if not get_tags(estimator).input_tags.sparse:
        if args.model == "GaussianMixture":
            raise CommandError(f"GaussianMixture with covariance_type="
                               f"{estimator.covariance_type!r} needs dense input, and 'fastem fit' "
                               f"reads DATA as a sparse matrix; use -p covariance_type=diag (the "
                               f"default here) or spherical")
        raise CommandError(f"{args.model} with these parameters needs dense input, and "
                           f"'fastem fit' reads DATA as a sparse matrix")

    X, y, zero_based = _load_data(args.data)
    if args.labels is not None:
        if not is_classifier(estimator):
            raise CommandError(f"--labels: {args.model} is unsupervised and takes no labels")
        y = _read_labels(args.labels, X.shape[0])
    elif not is_classifier(estimator):
        y = None  # a mixture ignores the svmlight targets
    elif y is not None and np.array_equal(np.unique(y), [-1, 1]):
        print("fastem: warning: the targets are -1 and +1, and -1 marks an unlabelled row; "
              "relabel the -1 class or pass --labels", file=sys.stderr)

    start = time.perf_counter()
    show_progress = not (args.verbose or args.quiet) and sys.stderr.isatty()
    with warnings.catch_warnings(record=True) as caught, \
            (progress(PROGRESS_DELAY) if show_progress else nullcontext()):
        warnings.simplefilter("always")
        try:
            estimator.fit(X, y)
        except (ValueError, TypeError) as exc:
            # bad parameter values and labels: sklearn's InvalidParameterError is a ValueError
            message = str(exc)
            raise CommandError(message if message.startswith(args.model) else f"{args.model}: {message}",
                               status=1)
    elapsed = time.perf_counter() - start
    _report_warnings(caught)
    try:
        joblib.dump({"model": estimator, "zero_based": zero_based,
                     "n_features": X.shape[1]}, args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {str(args.output)!r}: {exc.strerror or exc}")

    summary = f"{args.model} fitted on {X.shape[0]} rows x {X.shape[1]} features"
    if y is not None:
        from ._validation import is_unlabeled

        summary += f" ({int((~is_unlabeled(y)).sum())} labelled)"
    summary += f" in {elapsed:.2f} s"
    if hasattr(estimator, "n_iter_"):
        summary += (f": {estimator.n_iter_} iterations, "
                    f"{'converged' if estimator.converged_ else 'not converged'}, "
                    f"objective {estimator.lower_bound_:.6g}")
    print(f"{summary}; saved to {args.output}", file=out)
    return 0


def predict(args, out=None):
    """Predict a class or component for each row of a data file with a model saved by 'fastem fit'."""
    import pickle

    import joblib

    path = args.model_file
    if not os.path.isfile(path):
        raise CommandError(f"model file {path!r}: no such file")
    _check_output(args.output, [("model file", path), ("data file", args.data)])
    try:
        saved = joblib.load(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            ImportError, pickle.UnpicklingError) as exc:  # each means "not a model file"
        raise CommandError(f"model file {path!r}: not a model saved by 'fastem fit' "
                           f"({type(exc).__name__}: {exc})")
    # a bare estimator saved from Python with joblib.dump(model, path) works too
    if isinstance(saved, dict) and "model" in saved:
        model, zero_based = saved["model"], saved.get("zero_based")
    else:
        model, zero_based = saved, None
    if not (hasattr(model, "predict") and hasattr(model, "n_features_in_")):
        raise CommandError(f"model file {path!r}: holds no fitted estimator")
    X, _, _ = _load_data(args.data, n_features=model.n_features_in_,
                         zero_based="auto" if zero_based is None else zero_based)
    with _refused_values("predict: "):
        labels = model.predict(X)
    text = "".join(f"{v}\n" for v in labels.tolist())
    if args.output is None:
        (sys.stdout if out is None else out).write(text)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {str(args.output)!r}: {exc.strerror or exc}")
    return 0


def bench(args, out=None):
    """Time one EM iteration and a supervised fit against plain SciPy and
    scikit-learn in one process, on a seeded synthetic corpus."""
    n_threads = -1 if args.threads is None else args.threads
    if getattr(args, "gaussian", False):
        from .gaussian_bench import run_gaussian

        with _refused_values():
            run_gaussian(n_jobs=n_threads, repeat=args.repeat, seed=args.random_state, out=out)
        return 0
    from .bench import run, run_scaling

    if args.scaling:
        try:
            run_scaling(nnz=args.scaling, n_features=args.n_features,
                        n_components=args.n_components, n_threads=n_threads,
                        alpha=args.alpha, random_state=args.random_state, out=out)
        except ValueError as exc:  # the corpus sizes (the other values are checked by argparse)
            raise CommandError(f"--scaling: {exc}")
        return 0
    if args.nnz > args.n_samples * args.n_features:
        raise CommandError(f"--nnz {args.nnz} exceeds --n-samples x --n-features = "
                           f"{args.n_samples * args.n_features}, the most the corpus can hold")
    with _refused_values():
        run(n_samples=args.n_samples, n_features=args.n_features, nnz=args.nnz,
            n_components=args.n_components, n_threads=n_threads,
            repeat=args.repeat, alpha=args.alpha, random_state=args.random_state, out=out,
            dtypes=("float64", "float32") if args.dtype == "both" else (args.dtype,))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastem", description="Fast EM on sparse data.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="semi-supervised Naive Bayes on 20 Newsgroups or a synthetic corpus",
                       description=demo.__doc__)
    p.add_argument("--n-samples", type=positive_int, default=20000,
                   help="training documents (default 20000)")
    p.add_argument("--n-test", type=positive_int, default=5000,
                   help="test documents (default 5000)")
    p.add_argument("--n-features", type=positive_int, default=5000,
                   help="vocabulary size (default 5000)")
    p.add_argument("--n-classes", type=positive_int, default=10, help="classes (default 10)")
    p.add_argument("--doc-length", type=positive_float, default=60,
                   help="mean words per document (default 60)")
    p.add_argument("--separation", type=finite_float, default=0.5,
                   help="how different the classes' word distributions are (default 0.5)")
    p.add_argument("--archive", metavar="PATH", default=None,
                   help="the 20 Newsgroups archive 20news-bydate.tar.gz or its directory "
                        "(default: $FASTEM_DATA; without either, the synthetic corpus)")
    p.add_argument("--synthetic", action="store_true",
                   help="use the synthetic corpus even when FASTEM_DATA is set")
    p.add_argument("--labeled", type=int_list, default=None,
                   help="comma-separated numbers of labelled documents (default 30,100,300; "
                        f"on 20 Newsgroups {','.join(map(str, NEWS_LABELED))} with at most "
                        f"{NEWS_UNLABELED} unlabelled)")
    p.add_argument("--alpha", type=non_negative_float, default=None,
                   help=f"smoothing (default {SYNTHETIC_ALPHA}; on 20 Newsgroups {NEWS_ALPHA}, "
                        f"{NEWS_RAW_ALPHA} with --raw)")
    p.add_argument("--raw", action="store_true",
                   help="20 Newsgroups: fit on raw counts instead of DocumentNormalizer features")
    p.add_argument("--max-iter", type=non_negative_int, default=100,
                   help="EM iterations at most (default 100)")
    p.add_argument("--random-state", type=random_seed, default=0, help="seed (default 0)")
    p.add_argument("--png", default=DEMO_PNG, metavar="FILE",
                   help=f"where to draw accuracy against labelled documents when matplotlib is "
                        f"installed (default {DEMO_PNG}; '' for no plot; a name without an "
                        f"extension gets .png)")
    p.set_defaults(func=demo)

    p = sub.add_parser("bench", help="time fastem against SciPy and scikit-learn on a seeded corpus",
                       description=bench.__doc__)
    p.add_argument("--n-samples", type=positive_int, default=100_000,
                   help="documents (default 100000)")
    p.add_argument("--n-features", type=positive_int, default=100_000,
                   help="vocabulary size (default 100000)")
    p.add_argument("--nnz", type=positive_int, default=9_000_000,
                   help="approximate non-zeros, at most --n-samples x --n-features "
                        "(default 9000000)")
    p.add_argument("-k", "--n-components", type=int_list, default=[2, 5, 16, 20, 50, 100],
                   help="comma-separated numbers of components (default 2,5,16,20,50,100)")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="Numba threads; negative counts back from all (default: all of them)")
    p.add_argument("--repeat", type=positive_int, default=3,
                   help="timings per case, best kept (default 3)")
    p.add_argument("--alpha", type=non_negative_float, default=0.01,
                   help="smoothing (default 0.01)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="float64",
                   help="fastem's word log-probability table (the dtype parameter); 'both' "
                        "times each case twice (default float64)")
    p.add_argument("--random-state", type=random_seed, default=0, help="seed (default 0)")
    p.add_argument("--gaussian", action="store_true",
                   help="instead: GaussianMixture against scikit-learn per covariance type "
                        "(200,000 x 32, K=16, 10 iterations)")
    p.add_argument("--scaling", type=int_list, default=None, metavar="NNZ,NNZ,...",
                   help="instead: one EM iteration's time per non-zero on corpora of these "
                        "numbers of non-zeros (documents of about 90 words, --n-features "
                        "words), for each -k, timed in turns in one process (e.g. --scaling "
                        "1000000,10000000,50000000 -k 20)")
    p.set_defaults(func=bench)

    p = sub.add_parser("fit", help="fit a model to a svmlight or .npz file and save it",
                       description=fit.__doc__ + " DATA ending in .npz is read with "
                       "scipy.sparse.load_npz, anything else as svmlight/libsvm.",
                       epilog="example: fastem fit NaiveBayesEM train.svm --param alpha=0.1 -o nb.joblib")
    p.add_argument("model", metavar="MODEL",
                   help=f"estimator class name: {', '.join(sorted(_estimators()))}")
    p.add_argument("data", metavar="DATA", help="svmlight/libsvm file, or .npz sparse matrix")
    p.add_argument("--labels", metavar="FILE", default=None,
                   help="one label per line, -1/nan/empty = unlabelled (NaiveBayesEM; "
                        "default: the svmlight targets, where -1 and nan mean unlabelled)")
    p.add_argument("-k", "--n-components", type=int, default=None, metavar="K",
                   help="n_components (mixtures) or n_classes (NaiveBayesEM)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a constructor parameter, e.g. alpha=0.1 or init_params='random' "
                        "(repeatable; values are Python literals, else strings). "
                        "GaussianMixture defaults to covariance_type='diag' here, since DATA "
                        "is read as sparse ('spherical' works too; 'full' and 'tied' need "
                        "dense input)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print each EM iteration's objective, change and elapsed time")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines (by default, on a terminal, a fit still running "
                        "after 1 s reports its iterations on standard error)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to save the model (joblib)")
    p.set_defaults(func=fit)

    p = sub.add_parser("predict", help="predict with a saved model, one label per line",
                       description=predict.__doc__ + " Only load model files you trust: "
                       "joblib files are pickles.")
    p.add_argument("model_file", metavar="MODEL_FILE", help="a file written by 'fastem fit'")
    p.add_argument("data", metavar="DATA", help="svmlight/libsvm file, or .npz sparse matrix")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write the predictions here (default: standard output)")
    p.set_defaults(func=predict)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return status
    except CommandError as exc:
        print(f"fastem: error: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # e.g. 'fastem bench | head -1': stop quietly, with standard output on
        # devnull so that Python's flush at exit does not fail again (the
        # "Note on SIGPIPE" in the signal module's documentation)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # not a real file (io.UnsupportedOperation)
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
