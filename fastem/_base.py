"""The one EM driver shared by every fastem model.

Modelled on scikit-learn's ``BaseMixture``: initialise, alternate E and M
steps, record the objective after every iteration, stop on ``tol`` or
``max_iter``, keep the best of ``n_init`` restarts, honour ``warm_start``, warn
once when the kept run did not converge.

A model supplies small hooks and never writes its own loop:

``_initialize(data, random_state)``
    set starting parameters;
``_e_step(data)``
    E-step at the current parameters; returns ``(log_likelihood, stats)``
    where ``log_likelihood`` is the (weighted) data log-likelihood summed over
    rows and ``stats`` the sufficient statistics for the M-step;
``_log_param_prior()``
    log-density (up to a constant) of the parameters under the model's prior,
    0 for maximum likelihood;
``_m_step(data, stats)``
    set new parameters from ``stats`` (assigning fresh arrays, never
    updating in place, so that saved parameters stay valid);
``_get_parameters()`` / ``_set_parameters(params)``;
``_has_latent(data)``
    False when nothing is latent (a supervised fit: no iterations);
``_complete_log_likelihood()``
    needed only by models that can have nothing latent: the log-likelihood
    of the data when every row's component is known, computed from the
    sufficient statistics of the last M-step (so a supervised fit needs no
    second pass over the data).

The objective recorded is ``(log_likelihood + log_param_prior) / n_samples``:
the quantity EM provably never decreases (the MAP objective when a prior is
active). Because every iteration ends with the E-step at the new parameters,
``lower_bound_`` is the objective of the returned model, and the final E-step
that scikit-learn runs after the loop is the loop's last pass.
"""
from collections import namedtuple
from contextlib import contextmanager
from contextvars import ContextVar
import sys
import time
import warnings

import numba
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._config import BLOCK_BYTES, HOT_TABLE_BYTES, PARAM_DTYPE
from ._kernels import blocked
from ._kernels import csr as kernels
from ._validation import check_fitted_width


#: (delay in seconds, stream) while a ``progress`` block is active, else None
_PROGRESS = ContextVar("fastem_progress", default=None)


@contextmanager
def progress(delay=1.0, stream=None):
    """Progress of every EM fit in the block that is still running after
    ``delay`` seconds: the lines ``verbose=1`` prints (iteration, objective,
    change, elapsed seconds; iteration lines at most two a second), to ``stream`` (default
    ``sys.stderr``). Fits that finish sooner print nothing, and estimators
    with ``verbose`` set print as usual instead. The command line uses this
    on a terminal; from Python::

        with fastem.progress():
            model.fit(X)

    The setting is a context variable: fits started in other threads inside
    the block do not see it.
    """
    token = _PROGRESS.set((float(delay), stream))
    try:
        yield
    finally:
        _PROGRESS.reset(token)


class _Reporter:
    """Where the driver's progress lines go: every ``verbose_interval``-th
    iteration to stdout when ``verbose``; under ``progress``, once its delay has
    passed, to its stream: iteration lines at most every ``_PROGRESS_EVERY``
    seconds, the opening and closing line of each initialisation always;
    nowhere otherwise."""

    def __init__(self, verbose):
        self.verbose = bool(verbose)
        self.delayed = None if self.verbose else _PROGRESS.get()
        self.start = time.perf_counter()
        self.last = -np.inf

    def __call__(self, line, due=True, final=False):
        if self.verbose:
            if due:
                print(line, flush=True)
            return
        if self.delayed is None:
            return
        delay, stream = self.delayed
        now = time.perf_counter()
        if now - self.start < delay or (now - self.last < _PROGRESS_EVERY and not final):
            return
        self.last = now
        print(line, file=sys.stderr if stream is None else stream, flush=True)


#: seconds between two progress lines (see ``progress``)
_PROGRESS_EVERY = 0.5


class EMMixin(BaseEstimator):
    """EM fitting loop; subclasses provide the hooks listed in the module docstring.

    Expects the parameters ``tol``, ``max_iter``, ``n_init``, ``random_state``,
    ``verbose`` and optionally ``warm_start``.
    """

    def _objective(self, data):
        log_likelihood, stats = self._e_step(data)
        return (log_likelihood + self._log_param_prior()) / data.n_samples, stats

    def _fit_em(self, data):
        """Run EM on validated ``data`` (needs ``data.n_samples``); sets the
        fitted attributes ``converged_``, ``n_iter_``, ``lower_bound_`` and
        ``lower_bounds_``."""
        random_state = check_random_state(self.random_state)
        warm = bool(getattr(self, "warm_start", False)) and hasattr(self, "converged_")
        latent = self._has_latent(data)
        # restarts differ only in what is latent
        n_init = 1 if warm or not latent else self.n_init
        max_iter = self.max_iter if latent else 0

        best = None
        report = _Reporter(self.verbose)
        interval = max(1, int(getattr(self, "verbose_interval", 1)))
        for init in range(n_init):
            if not warm or not latent:
                # (with nothing latent the initial counting pass is the fit)
                self._initialize(data, random_state)
            if latent:
                objective, stats = self._objective(data)
            else:
                objective = ((self._complete_log_likelihood() + self._log_param_prior())
                             / data.n_samples)
            lower_bounds = []
            converged = not latent
            n_iter = 0
            start = time.perf_counter()
            if latent:
                report(f"Initialization {init}: objective {objective:.8g}", final=True)
            for n_iter in range(1, max_iter + 1):
                previous = objective
                self._m_step(data, stats)
                objective, stats = self._objective(data)
                lower_bounds.append(objective)
                change = objective - previous
                report(f"  Iteration {n_iter:4d}  objective {objective:.10g}  change {change:.3e}"
                       f"  {time.perf_counter() - start:.2f} s", n_iter % interval == 0)
                if abs(change) < self.tol:
                    converged = True
                    break
            if latent:
                state = "converged" if converged else "did not converge"
                report(f"Initialization {init} {state} after {n_iter} iterations: "
                       f"objective {objective:.10g}", final=True)
            if best is None or objective > best[0] or np.isnan(best[0]):
                best = (objective, self._get_parameters(), n_iter, lower_bounds, converged)

        objective, params, n_iter, lower_bounds, converged = best
        self._set_parameters(params)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = objective
        self.lower_bounds_ = np.asarray(lower_bounds, dtype=np.float64)
        if latent and not converged and max_iter > 0:
            warnings.warn(
                f"Best of {n_init} initialization(s) did not converge in max_iter={self.max_iter} "
                f"iterations (tol={self.tol}); increase max_iter or tol, or check the data.",
                ConvergenceWarning,
            )
        return self


# ---------------------------------------------------------------------------
# The passes over a CSR matrix that every model of multinomial shape shares
# (Naive Bayes, the mixture of multinomials, and the Bernoulli mixture on its
# presence pattern): validated arrays in, kernel calls, arrays out.
# ---------------------------------------------------------------------------

#: Everything the EM passes of one fit need, validated once per fit: the CSR
#: arrays, the row chunks (for the passes that walk CSR rows), per-row weights,
#: per-row labels (-1 = free), the component range of each label, and the
#: row-blocked copy of the matrix that the fused E+M pass walks
#: (:class:`LazyBlocks`: call it to get the :class:`Blocks`).
EMData = namedtuple("EMData", ["X", "bounds", "weight", "labels", "label_bounds", "n_samples",
                               "blocks"])

#: The row-blocked, column-sorted copy of a CSR matrix (see
#: ``fastem._kernels.blocked``) and the column ranges of the threads' M phases.
Blocks = namedtuple("Blocks", ["rows_per_block", "dstart", "cols", "col_ptr", "ent_row",
                               "ent_val", "col_split", "free", "fixed_ptr", "fixed_comp",
                               "fixed_val", "fixed_class", "hot_cols", "hot_ptr", "hot_idx",
                               "hot_val"])

#: block rows are stored as uint16 offsets
MAX_ROWS_PER_BLOCK = 1 << 16
#: hot words are numbered in uint16
MAX_HOT = 1 << 16
#: bound on the scratch memory of the threads that make the blocked copy
BUILD_SCRATCH_BYTES = 1 << 28
#: the number of blocks is a multiple of this, so that rounds of 1 or 2
#: threads are full whatever the thread count (on more threads the last
#: round may be part-empty). 4 kept rounds of 4 threads full too, but cut
#: inputs of up to two blocks in four: on two threads the pass then took 10%
#: longer (5.4 against 4.9 ms at 11,111 rows and K=20, 14.5 against 13.3 ms
#: at 100,000 rows and K=2)
BLOCK_GROUP = 2


def _row_roles(n_samples, n_components, weight, labels, label_bounds):
    """``(weight, labels, label_bounds)`` with the defaults filled in: every
    row free, with weight 1, and one component per label."""
    if weight is None:
        weight = np.ones(n_samples, dtype=PARAM_DTYPE)
    if labels is None:
        labels = np.full(n_samples, -1, dtype=np.int64)
    if label_bounds is None:
        label_bounds = np.arange(n_components + 1, dtype=np.int64)
    return weight, labels, label_bounds


def _fixed_counts(X, n_components, fixed, weight, components):
    """Counts of the fixed rows (``fixed`` mask, row ``i`` in component
    ``components[i]``), by word: ``(ptr [n_features + 1], comp, val, class [K])``
    with ``val[q]`` the weighted count of word ``w`` in component ``comp[q]``
    for ``q`` in ``ptr[w]:ptr[w + 1]`` (non-zero counts only)."""
    n_features = X.shape[1]
    if not fixed.any():  # (the pass does not read ptr when there are no counts)
        return (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.float64), np.zeros(n_components, dtype=np.float64))
    counts_t, fixed_class = _grouped_counts(X, weight, np.where(fixed, components, -1),
                                            n_components)
    by_word = counts_t.T
    words, comps = np.nonzero(by_word)  # by word, then component
    ptr = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(np.bincount(words, minlength=n_features), out=ptr[1:])
    return ptr, comps.astype(np.int64), by_word[words, comps], fixed_class


def _most_entries(entries, n):
    """The ``n`` columns with the most ``entries`` (ties: the lower column), in
    increasing order, as int64: a selection, not a sort of every column."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    threshold = np.partition(entries, entries.size - n)[entries.size - n]  # the n-th most
    above = np.flatnonzero(entries > threshold)
    at = np.flatnonzero(entries == threshold)[:n - above.size]
    return np.sort(np.concatenate([above, at])).astype(np.int64)


def make_blocks(X, n_components, n_threads, weight=None, labels=None, label_bounds=None,
                rows_per_block=None, n_hot=None):
    """The :class:`Blocks` copy of a validated CSR ``X`` (finite values, none
    negative: the copy marks where runs start by sign) for a pass with
    ``n_components`` components on ``n_threads`` threads, with the rows'
    ``weight``, ``labels`` and ``label_bounds`` (as in :class:`EMData`; by
    default every row is free with weight 1).

    Only the *free* rows are copied: rows with a non-zero weight whose
    component is not known. A row with one known component (a labelled row
    of Naive Bayes) has the same responsibilities in every pass, so its
    counts are added up once, here (``fixed_*``), and a row of weight 0
    contributes nothing.

    By default a block holds at most as many rows as fit ``BLOCK_BYTES`` of
    [rows, K] float64 buffer (and at least 16), and the rows are shared
    evenly by about a multiple of ``BLOCK_GROUP`` blocks, so rounds of 1 or 2
    threads are full. The blocks do not depend on ``n_threads`` (only the
    word ranges of the M phase do), and so neither do the results of a pass:
    they are the same to the last bit for any thread count. The copy takes 6
    bytes per stored non-zero of the free rows (10 when a value of float64
    data is not a float32 value) plus 12 (16 with int64 indices) per distinct
    column of each block, and 8 per row.

    The ``n_hot`` words with most entries in the free rows (ties: the lower
    column) are *hot*: kept row by row, not in column runs (see
    ``fastem._kernels.blocked``). By default as many as ``HOT_TABLE_BYTES``
    of [n_hot, K] float64 rows hold (at most ``MAX_HOT``, and only words that
    occur).
    """
    n_samples, n_features = X.shape
    n_threads = max(1, int(n_threads))
    weight, labels, label_bounds = _row_roles(n_samples, n_components, weight, labels,
                                              label_bounds)
    if rows_per_block is None:
        most = max(16, min(MAX_ROWS_PER_BLOCK, BLOCK_BYTES // (8 * max(1, n_components))))
        n_blocks = max(1, -(-n_samples // most))
        n_blocks = -(-n_blocks // BLOCK_GROUP) * BLOCK_GROUP
        rows_per_block = max(1, -(-n_samples // n_blocks))
    rows_per_block = int(rows_per_block)
    if not 1 <= rows_per_block <= MAX_ROWS_PER_BLOCK:
        raise ValueError(f"rows_per_block must be in [1, {MAX_ROWS_PER_BLOCK}], got {rows_per_block}.")
    components = np.where(labels >= 0, label_bounds[np.maximum(labels, 0)], -1)
    one_component = np.diff(label_bounds)[np.maximum(labels, 0)] == 1
    fixed = (labels >= 0) & one_component & (weight != 0)
    free = (weight != 0) & ~fixed
    data, indices, indptr = X[:3]
    entries_per_column = blocked.column_entries(data, indices, indptr, free, n_features)
    if n_hot is None:
        n_hot = HOT_TABLE_BYTES // (8 * max(1, n_components))
    n_hot = max(0, min(int(n_hot), MAX_HOT, int(np.count_nonzero(entries_per_column))))
    hot_cols = _most_entries(entries_per_column, n_hot)
    hot_id = np.full(n_features, -1, dtype=np.int32)
    hot_id[hot_cols] = np.arange(n_hot, dtype=np.int32)
    n_blocks = -(-n_samples // rows_per_block)
    # threads building blocks each need 24 bytes of scratch per column: keep
    # the total within BUILD_SCRATCH_BYTES on machines with many threads (one
    # thread at least: beyond 11M columns the build runs on one)
    n_parts = max(1, min(n_threads, n_blocks, BUILD_SCRATCH_BYTES // (24 * max(1, n_features))))
    distinct, entries = blocked.block_sizes(data, indices, indptr, free, hot_id, n_features,
                                            rows_per_block, n_parts)
    dstart = np.zeros(distinct.shape[0] + 1, dtype=np.int64)
    np.cumsum(distinct, out=dstart[1:])
    estart = np.zeros(entries.shape[0] + 1, dtype=np.int64)
    np.cumsum(entries, out=estart[1:])
    cols = np.empty(dstart[-1], dtype=indices.dtype)
    col_ptr = np.empty(dstart[-1] + 1, dtype=np.int64)
    ent_row = np.empty(estart[-1], dtype=np.uint16)
    exact = data.dtype == np.float32 or blocked.exact_in_float32(data)
    ent_val = np.empty(estart[-1], dtype=np.float32 if exact else data.dtype)
    hot_ptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(blocked.hot_row_sizes(data, indices, indptr, free, hot_id), out=hot_ptr[1:])
    hot_idx = np.empty(hot_ptr[-1], dtype=np.uint16)
    hot_val = np.empty(hot_ptr[-1], dtype=ent_val.dtype)
    blocked.fill_blocks(data, indices, indptr, free, hot_id, n_features, rows_per_block, n_parts,
                        dstart, estart, cols, col_ptr, ent_row, ent_val, hot_ptr, hot_idx, hot_val)
    fixed_counts = _fixed_counts(X, n_components, fixed, weight, components)
    # the threads' word ranges, balanced by the work of the M phase
    cost = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(blocked.column_cost(cols, col_ptr, n_features), out=cost[1:])
    if fixed_counts[2].size:
        cost[1:] += np.diff(fixed_counts[0])
    col_split = kernels.chunk_bounds(cost, n_threads)
    return Blocks(rows_per_block, dstart, cols, col_ptr, ent_row, ent_val, col_split, free,
                  *fixed_counts, hot_cols, hot_ptr, hot_idx, hot_val)


def blocks_jll(blocks, log_prior, log_prob, n_samples):
    """Joint log-likelihood [n_samples, K] of the rows a :class:`Blocks`
    copy holds (``log_prior`` alone for the others): ``blocked.blocked_jll``."""
    out = np.empty((n_samples, log_prob.shape[1]), dtype=PARAM_DTYPE)
    blocked.blocked_jll(blocks.rows_per_block, blocks.dstart, blocks.cols, blocks.col_ptr,
                        blocks.ent_row, blocks.ent_val, blocks.hot_cols, blocks.hot_ptr,
                        blocks.hot_idx, blocks.hot_val, log_prior, log_prob, out)
    return out


def blocks_add_jll(blocks, col_map, table, out):
    """``out[i] += sum_w X[i, w] * table[col_map[w]]`` over the words with
    ``col_map[w] >= 0``, for the rows a :class:`Blocks` copy holds:
    ``blocked.blocked_add_jll``. ``col_map`` must index ``table``'s rows
    (internal callers only: Numba does not check)."""
    blocked.blocked_add_jll(blocks.rows_per_block, blocks.dstart, blocks.cols, blocks.col_ptr,
                            blocks.ent_row, blocks.ent_val, blocks.hot_cols, blocks.hot_ptr,
                            blocks.hot_idx, blocks.hot_val, col_map, table, out)


class LazyBlocks:
    """``make_blocks(X, n_components, n_threads)``, made on the first call and
    kept: a fit with nothing latent (supervised) never needs the copy."""

    def __init__(self, *args):
        self._args = args
        self._blocks = None

    def __call__(self):
        if self._blocks is None:
            self._blocks = make_blocks(*self._args)
        return self._blocks


def make_em_data(X, n_components, n_threads, weight=None, labels=None, label_bounds=None):
    """:class:`EMData` for a validated CSR ``X``; by default every row is free
    with weight 1 and each label is one component. Rows are split into one
    chunk per thread, and blocked for the fused pass when it first runs
    (``make_blocks``)."""
    n_samples = X.shape[0]
    weight, labels, label_bounds = _row_roles(n_samples, n_components, weight, labels,
                                              label_bounds)
    return EMData(X, kernels.chunk_bounds(X.indptr, n_threads), weight, labels, label_bounds,
                  n_samples, LazyBlocks(X, n_components, n_threads, weight, labels, label_bounds))


def expected_counts(data, log_prior, log_prob):
    """One fused E+M pass at the parameters ``(log_prior [K], log_prob [n_features, K])``.

    Returns ``(log_likelihood, (counts [n_features, K], class_counts [K]))``:
    the weighted log-likelihood and the expected counts of the M-step.

    Row ``i`` is free when ``data.labels[i] < 0`` (its responsibilities range
    over all K components) and otherwise restricted to the components
    ``label_bounds[labels[i]]:label_bounds[labels[i] + 1]`` (one component per
    class gives the fixed one-hot row of semi-supervised EM); rows with zero
    weight contribute nothing.
    """
    blocks = data.blocks()
    log_prob = np.ascontiguousarray(log_prob)  # the pass's vector loops read C-ordered rows
    counts = np.empty(log_prob.shape, dtype=PARAM_DTYPE)
    class_counts = np.empty(log_prob.shape[1], dtype=PARAM_DTYPE)
    log_likelihood = blocked.blocked_em_pass(
        blocks.rows_per_block, data.n_samples, *blocks[1:], data.weight, data.labels,
        data.label_bounds, log_prior, log_prob, counts, class_counts)
    return log_likelihood, (counts, class_counts)


def assignment_counts(data, components, n_components):
    """Counts of a hard assignment of rows to components (no E-step needed).

    ``components[i]`` is row i's component, or -1 to leave the row out.
    Returns ``(counts [n_features, K], class_counts [K])`` with the rows'
    weights. The rows are grouped by component and each component's counts
    are added in one row of a [K, n_features] table (``kernels.grouped_counts``);
    ``counts`` is its transpose, copied C-ordered (the copy costs less than
    reading the transposed view in the M-step).
    """
    counts_t, class_counts = _grouped_counts(data.X, data.weight, components, n_components)
    return np.ascontiguousarray(counts_t.T), class_counts


def _grouped_counts(X, weight, components, n_components):
    """``(counts_t [K, n_features], class_counts [K])`` of the rows of a
    validated CSR ``X`` assigned to ``components`` (-1: left out), weighted."""
    n_features = X.shape[1]
    components = np.asarray(components, dtype=np.int64)
    if components.shape != (X.shape[0],) or (components.size and components.max() >= n_components):
        # internal callers only; Numba would write out of bounds
        raise ValueError(f"components must be one value < {n_components} per row.")
    order, group_bounds, cost = kernels.group_rows(components, weight, X.indptr, n_components)
    # components split into contiguous parts, one per thread, of similar cost
    part_bounds = kernels.chunk_bounds(cost, numba.get_num_threads())
    counts_t = np.empty((n_components, n_features), dtype=PARAM_DTYPE)
    class_counts = np.empty(n_components, dtype=PARAM_DTYPE)
    kernels.grouped_counts(*X[:3], weight, order, group_bounds, part_bounds, counts_t,
                           class_counts)
    return counts_t, class_counts


def predict_arrays(X, log_prior, log_prob, need_posterior):
    """Joint log-likelihood [n_samples, K] of a validated CSR ``X`` and, if
    asked, the responsibilities [n_samples, K] and ``log p(x)`` [n_samples]
    (else None, None). Uses the current Numba thread count. ``X`` must have
    as many columns as ``log_prob`` has rows (``check_fitted_width``).
    """
    check_fitted_width(X.shape[1], log_prob.shape[0])
    n_samples = X.shape[0]
    jll = np.empty((n_samples, log_prob.shape[1]), dtype=PARAM_DTYPE)
    kernels.joint_log_likelihood(*X[:3], log_prior, log_prob,
                                 kernels.chunk_bounds(X.indptr, numba.get_num_threads()), jll)
    if not need_posterior:
        return jll, None, None
    resp = np.empty_like(jll)
    log_norm = np.empty(n_samples, dtype=PARAM_DTYPE)
    kernels.log_posterior(jll, resp, log_norm)
    return jll, resp, log_norm
