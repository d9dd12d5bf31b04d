"""``fastem bench``: fastem against plain SciPy and scikit-learn, in one process.

Every case runs fastem and its baseline on the same seeded corpus, takes the
best of ``repeat`` timings of each, checks that both computed the same thing
and prints one row: case, fastem seconds, baseline seconds, ratio (baseline /
fastem), maximum relative difference, and the peak memory fastem added while
running the case.
"""
import time
import warnings

import numba
import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

from ._config import threads
from .datasets import make_corpus


def _peak_rss_mb(fn):
    """Run ``fn``; return (result, peak resident memory it added in MiB or None).

    Uses Linux's resettable high-water mark (/proc/self/clear_refs), which also
    sees memory Numba allocates outside Python's allocators.
    """
    def read(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024.0
        return None

    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = read("VmRSS:")
    except OSError:
        return fn(), None
    result = fn()
    peak = read("VmHWM:")
    return result, (None if peak is None or before is None else max(0.0, peak - before))


def _best_time(fn, repeat):
    best, result = np.inf, None
    for _ in range(repeat):
        result = None  # (the last run's result would count in this run's peak memory)
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return np.inf
    scale = np.maximum(np.abs(b[finite]), 1e-300)
    return float(np.max(np.abs(a[finite] - b[finite]) / scale)) if finite.any() else 0.0


def make_bench_corpus(n_samples, n_features, nnz, n_classes=20, random_state=0):
    """A make_corpus corpus with about ``nnz`` stored entries.

    The mean document length is calibrated on a small sample so that the
    number of distinct words per document gives the requested non-zeros. It
    is capped at ``n_features * (1 + ln n_features)`` words, about the length
    at which a document would hold every word if all were equally frequent:
    longer documents add repeats, hardly any non-zeros, so a request close to
    ``n_samples * n_features`` gets fewer non-zeros rather than documents
    without bound. Raises ValueError when ``nnz`` exceeds ``n_samples *
    n_features``, which no corpus of that shape can hold.
    """
    if nnz > n_samples * n_features:
        raise ValueError(f"nnz={nnz} exceeds n_samples x n_features = {n_samples} x {n_features} "
                         f"= {n_samples * n_features}, the most a corpus of that shape can hold.")
    per_doc = nnz / n_samples
    max_length = n_features * (1.0 + np.log(n_features))
    sample = min(n_samples, 2000)
    length = per_doc
    for _ in range(3):  # distinct words grow sub-linearly with length
        X, _, _ = make_corpus(sample, n_features, n_classes, length, random_state=random_state)
        length = min(max_length, length * per_doc / max(X.nnz / sample, 1e-9))
    return make_corpus(n_samples, n_features, n_classes, length, random_state=random_state)


def scipy_em_iteration(X, log_prior, log_prob, alpha):
    """One EM iteration of a mixture of multinomials with plain SciPy.

    ``jll = X @ log_prob + log_prior``, ``logsumexp`` over rows, ``resp``,
    ``counts = X.T @ resp``, normalise. Returns (objective, log_prior, log_prob).
    """
    jll = X @ log_prob + log_prior
    lse = logsumexp(jll, axis=1)
    resp = np.exp(jll - lse[:, None])
    counts = X.T @ resp
    class_counts = resp.sum(axis=0)
    objective = lse.sum() + alpha * log_prob.sum()
    smoothed = counts + alpha
    new_log_prob = np.log(smoothed) - np.log(smoothed.sum(axis=0))
    new_log_prior = np.log(class_counts) - np.log(class_counts.sum())
    return objective, new_log_prior, new_log_prob


def _suffix(dtype):
    """The case-name suffix of a fastem table dtype ('' for the default float64)."""
    return "" if np.dtype(dtype) == np.float64 else f" {np.dtype(dtype).name}"


def _fastem_iteration_runner(X, log_prior, log_prob, alpha, dtype=np.float64):
    """A NaiveBayesEM prepared for unsupervised EM: ``(iteration, prepare
    seconds, MiB of the blocked copy, expand)``, where ``iteration()`` runs
    one E+M iteration, the next two are what the fit's preparation cost, and
    ``expand(table)`` gives the full [n_features, K] table of the word table
    the iteration returns (which, like a fit's, may hold only the words that
    occur: see ``fastem._multinomial.Vocabulary``)."""
    from sklearn.exceptions import ConvergenceWarning

    from .naive_bayes import NaiveBayesEM

    n_classes = log_prior.shape[0]
    model = NaiveBayesEM(alpha=alpha, n_classes=n_classes, max_iter=0, random_state=0, dtype=dtype)
    log_prob = log_prob.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    model.set_params(max_iter=1)  # prepared as a fit that iterates (max_iter=0 keeps every word)
    start = time.perf_counter()
    data, _, vocabulary = model._prepare_fit(X, None, None, numba.get_num_threads())
    blocks_mb = sum(a.nbytes for a in data.blocks()[1:]) / 2**20
    prepare = time.perf_counter() - start
    # what the M-step would have left with these parameters (the Dirichlet
    # log-prior reads the sum of log_prob from there)
    log_prob_sums = (np.nan, float(log_prob.sum()))
    log_prob = vocabulary.compress(log_prob)

    def iteration():
        model._log_prior, model._log_prob = log_prior, log_prob
        model._log_prob_sums = log_prob_sums
        log_likelihood, stats = model._e_step(data)
        objective = log_likelihood + model._log_param_prior()
        model._m_step(data, stats)
        return objective, model._log_prior, model._log_prob

    return iteration, prepare, blocks_mb, vocabulary.expand


def run(n_samples=100_000, n_features=100_000, nnz=9_000_000, n_components=(2, 5, 16, 20, 50, 100),
        n_threads=2, repeat=3, alpha=0.01, random_state=0, out=None, dtypes=("float64",)):
    """Run the benchmark cases and print the table. Returns the rows.

    ``dtypes``: the word log-probability tables of fastem to time
    ("float64", "float32"; every case is run for each, the baselines in
    float64).
    """
    import sys

    from sklearn.naive_bayes import MultinomialNB

    from . import NaiveBayesEM

    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat!r}.")
    out = sys.stdout if out is None else out
    start = time.perf_counter()
    X, y, _ = make_bench_corpus(n_samples, n_features, nnz, random_state=random_state)
    X = sp.csr_matrix(X)
    input_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    with threads(n_threads) as n_used:
        pass
    print(f"corpus: {X.shape[0]} x {X.shape[1]}, {X.nnz} non-zeros ({input_mb:.0f} MiB as CSR), "
          f"made in {time.perf_counter() - start:.1f} s; threads={n_used}, best of {repeat}", file=out)
    rows = []
    header = (f"{'case':<42} {'fastem s':>9} {'baseline s':>10} {'ratio':>7} {'max rel diff':>12} "
              f"{'peak MiB':>9}  baseline")
    print(header, file=out)
    print("-" * len(header), file=out)

    def emit(case, t_fast, t_base, diff, peak, baseline):
        ratio = t_base / t_fast if t_fast > 0 else np.inf
        peak_text = "n/a" if peak is None else f"{peak:.0f}"
        rows.append(dict(case=case, fastem=t_fast, baseline=t_base, ratio=ratio, diff=diff,
                         peak_mb=peak, baseline_name=baseline))
        print(f"{case:<42} {t_fast:>9.4f} {t_base:>10.4f} {ratio:>7.2f} {diff:>12.1e} {peak_text:>9}  "
              f"{baseline}", file=out, flush=True)

    t_read, _ = _best_time(lambda: float(X.data.sum()) + float(X.indices.sum()), repeat)
    emit("read CSR data+indices once", t_read, t_read, 0.0, None, "itself")

    rng = np.random.default_rng(random_state)
    with threads(n_threads):
        for k in n_components:
            log_prob = np.log(rng.dirichlet(np.ones(n_features), size=k).T.copy())
            log_prior = np.full(k, -np.log(k))
            t_base, base = _best_time(lambda: scipy_em_iteration(X, log_prior, log_prob, alpha), repeat)
            for dtype in dtypes:
                iteration, prepare, blocks_mb, expand = _fastem_iteration_runner(
                    X, log_prior, log_prob, alpha, np.dtype(dtype))
                iteration()  # compile / warm caches
                (t_fast, fast), peak = _peak_rss_mb(lambda: _best_time(iteration, repeat))
                diff = max(_rel_diff(fast[0], base[0]), _rel_diff(fast[1], base[1]),
                           _rel_diff(expand(fast[2]), base[2]))
                emit(f"EM iteration K={k}{_suffix(dtype)} ({t_fast / X.nnz * 1e9:.1f} ns/nnz)",
                     t_fast, t_base, diff, peak, "SciPy X@logp, logsumexp, X.T@resp")
                print(f"  once per fit: validation + block copy {prepare:.3f} s, "
                      f"copy {blocks_mb:.0f} MiB", file=out, flush=True)
        n_classes = np.unique(y).size  # the classes present, not the largest label + 1
        t_base, base = _best_time(lambda: MultinomialNB(alpha=alpha).fit(X, y), repeat)
        for dtype in dtypes:
            NaiveBayesEM(dtype=dtype).fit(X[:100], y[:100])
            (t_fast, fast), peak = _peak_rss_mb(lambda: _best_time(
                lambda: NaiveBayesEM(alpha=alpha, dtype=dtype).fit(X, y), repeat))
            diff = max(_rel_diff(fast.feature_log_prob_, base.feature_log_prob_),
                       _rel_diff(fast.class_log_prior_, base.class_log_prior_))
            emit(f"supervised fit K={n_classes}{_suffix(dtype)}", t_fast, t_base, diff, peak,
                 "sklearn MultinomialNB.fit")
    print(f"ratio = baseline s / fastem s; peak MiB = resident memory fastem added (input CSR: "
          f"{input_mb:.0f} MiB)", file=out)
    return rows


def run_scaling(nnz=(1_000_000, 10_000_000, 50_000_000), n_features=100_000, n_components=(20,),
                n_threads=2, rounds=8, alpha=0.01, random_state=0, words_per_doc=90, out=None):
    """Time per non-zero of one EM iteration across corpus sizes, in one process.

    One corpus per value of ``nnz``, with ``nnz / words_per_doc`` documents
    (documents of about 90 distinct words, as in the default corpus) over the
    same ``n_features`` words. For each K, the corpora's iterations are timed
    in turns, ``rounds`` times (in each round a case runs as many iterations
    as make about the same time as the largest case's one, at most 20), so
    that a machine whose speed drifts between processes or minutes slows
    every case alike. Prints, per case, the best and median nanoseconds per
    non-zero and the best relative to the lowest best; returns the rows.
    """
    import sys

    out = sys.stdout if out is None else out
    nnz = [int(v) for v in nnz]
    if min(nnz) < words_per_doc:
        raise ValueError(f"every nnz value must be at least {words_per_doc} (one document).")
    if n_features < words_per_doc:
        raise ValueError(f"n_features={n_features} is fewer than the {words_per_doc} distinct "
                         f"words per document; use at least {words_per_doc} features.")
    corpora = []
    for target in nnz:
        X = sp.csr_matrix(make_bench_corpus(max(1, round(target / words_per_doc)), n_features,
                                            target, random_state=random_state)[0])
        corpora.append(X)
    with threads(n_threads) as n_used:
        pass
    print(f"scaling: {len(corpora)} corpora over {n_features} words, documents of about "
          f"{words_per_doc} words; threads={n_used}, {rounds} rounds in turns", file=out)
    header = (f"{'case':<48} {'best s':>9} {'best ns/nnz':>12} {'median ns/nnz':>14} "
              f"{'vs lowest':>10}")
    print(header, file=out)
    print("-" * len(header), file=out)
    rows = []
    rng = np.random.default_rng(random_state)
    largest = max(X.nnz for X in corpora)
    with threads(n_threads):
        for k in n_components:
            log_prob = np.log(rng.dirichlet(np.ones(n_features), size=k).T.copy())
            log_prior = np.full(k, -np.log(k))
            runners = []
            for X in corpora:
                iteration = _fastem_iteration_runner(X, log_prior, log_prob, alpha)[0]
                iteration()  # compile / warm caches
                runners.append(iteration)
            times = [[] for _ in corpora]
            for _ in range(rounds):
                for X, iteration, case_times in zip(corpora, runners, times):
                    for _ in range(min(20, max(1, round(largest / max(1, X.nnz))))):
                        start = time.perf_counter()
                        iteration()
                        case_times.append(time.perf_counter() - start)
            best_ns = [min(t) / X.nnz * 1e9 for t, X in zip(times, corpora)]
            lowest = min(best_ns)
            for X, case_times, ns in zip(corpora, times, best_ns):
                case = f"EM iteration K={k}, {X.nnz} nnz ({X.shape[0]} docs)"
                median_ns = float(np.median(case_times)) / X.nnz * 1e9
                rows.append(dict(case=case, nnz=X.nnz, n_components=k, best=min(case_times),
                                 best_ns=ns, median_ns=median_ns, vs_lowest=ns / lowest))
                print(f"{case:<48} {min(case_times):>9.4f} {ns:>12.2f} {median_ns:>14.2f} "
                      f"{ns / lowest:>10.2f}", file=out, flush=True)
    return rows
