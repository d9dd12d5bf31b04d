"""What the models whose components are multinomials over words share.

``NaiveBayesEM`` and ``MultinomialMixture`` differ in how rows are assigned
to components (fixed labels or posteriors), not in how a component's word
distribution is re-estimated from its expected counts: that M-step,
:func:`multinomial_log_prob`, lives here, once. So does the KL k-means++
seeding of word distributions from documents (:func:`kl_kmeans_plusplus`),
which works on the CSR matrix through the joint log-likelihood kernel, and
the fit on the words that occur (:class:`Vocabulary`, :func:`fitting_on`).
"""
from contextlib import contextmanager

import numba
import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from ._base import blocks_add_jll, blocks_jll, make_blocks
from ._config import PARAM_DTYPE
from ._kernels import csr as kernels
from ._kernels.multinomial import capped_kl_costs, gather_rows, smoothed_log_prob


def multinomial_log_prob(counts, alpha, return_sums=False, dtype=PARAM_DTYPE, n_features=None):
    """MAP word log-probabilities of each component from expected word counts.

    ``log P(w | k) = log((counts[w, k] + alpha) / sum_v (counts[v, k] + alpha))``:
    Lidstone smoothing, the MAP estimate under a symmetric Dirichlet(alpha + 1)
    prior (the maximum-likelihood estimate when ``alpha == 0``; seed 003 §1.2,
    seed 000 eq. 10).

    Parameters
    ----------
    counts : ndarray of shape (n_features, n_components)
        Expected (weighted) word counts per component.
        C- or F-ordered (the transpose of a [K, n_features] table is read as
        it is, without a copy).
    alpha : float >= 0
        Additive smoothing.
    return_sums : bool
        Also return ``sum(counts * log_prob)`` (over the non-zero counts) and
        ``sum(log_prob)``, computed in the same pass.
    dtype : np.float64 or np.float32
        dtype of ``log_prob`` (the sums are float64 either way).
    n_features : int, default=None
        The size of the vocabulary when ``counts`` holds only some of its
        words (a :class:`Vocabulary`'s rows; the others have no counts):
        ``sum_v`` and ``sum(log_prob)`` run over all of them. By default
        ``counts.shape[0]``.

    Returns
    -------
    log_prob : ndarray of the shape of ``counts``, C-contiguous, ``dtype``
        A new array. A component with no mass at all (every count 0 and
        ``alpha == 0``) gets the uniform distribution: no data says anything
        about it, and ``0 / 0`` would be NaN. With ``alpha == 0`` a word never
        counted in a component gets ``-inf``.
    (dot, total) : floats, only with ``return_sums``
    """
    counts = np.asarray(counts, dtype=PARAM_DTYPE)
    if not (counts.flags.c_contiguous or counts.flags.f_contiguous):
        counts = np.ascontiguousarray(counts)
    n_features = counts.shape[0] if n_features is None else int(n_features)
    if n_features < counts.shape[0]:
        raise ValueError(f"n_features={n_features} is smaller than the {counts.shape[0]} rows of counts.")
    log_prob = np.empty(counts.shape, dtype=dtype)
    dot, total = smoothed_log_prob(counts, float(alpha), log_prob, n_features)
    return (log_prob, dot, total) if return_sums else log_prob


#: a fit keeps rows only for the words that occur when at least this share
#: of the vocabulary does not (see :class:`Vocabulary`)
UNUSED_SHARE = 0.1


class Vocabulary:
    """The rows a fit's word tables need: one per word that occurs in the
    fit's matrix, and one more that stands for every other word.

    Hashed features (and a corpus fitted with a larger corpus's vocabulary)
    leave most columns empty. Under a multinomial model an empty column's
    word has no count in any component, so after an M-step its row is the
    same for every such word; it is never read by an E-step. When at least
    ``UNUSED_SHARE`` of the columns are empty, a fit therefore runs on the
    matrix's occurring columns (``matrix``), with tables of ``n_rows =
    n_occurring + 1`` rows (``compress``; the last one for the empty
    columns), which the M-step normalises over the whole vocabulary
    (``multinomial_log_prob(..., n_features=n_features)``); ``expand`` gives
    the full tables back. Otherwise (``compressed`` False) every method
    returns what it is given.

    Measured (``fastem bench`` corpora, K=20, 2 threads), one EM iteration:
    2^20 hashed columns and 1M non-zeros, 85% of the columns empty: 76 ->
    24 ms; 2^22 and 10M, 72%: 405 -> 236 ms; 2^20 and 10M, 35%: 210 -> 187
    ms; 100,000 columns and 1M non-zeros in 11,111 documents, 23% empty (AMD
    Zen 5, in turns in one process): 10.4 -> 8.5 ms, and a 10-iteration
    ``NaiveBayesEM`` fit 179 -> 168 ms; 2M non-zeros, 9% empty: 11.9 -> 10.9
    ms. The price is paid once per fit: a pass over the indices and a
    renumbered copy of them (4 or 8 bytes per non-zero; 30 ms at 10M, 7-10
    ms at 1-2M).

    Only for fits that iterate (``enabled``): a fit with ``max_iter=0``
    returns its initial table, whose rows for empty columns need not be all
    alike, and a supervised fit (one M-step) would only pay the price.
    """

    def __init__(self, X, enabled=True):
        n_features = X.shape[1]
        self.n_features = n_features
        self.n_rows = n_features
        self.compressed = False
        if not enabled:
            return
        # columns with a stored entry (one holding a stored zero only is kept:
        # its row simply has no counts)
        occurs = kernels.column_occurs(X.indices, n_features)
        n_occurring = int(np.count_nonzero(occurs))
        if n_features - n_occurring < max(1, UNUSED_SHARE * n_features):
            return
        self.compressed = True
        self.n_rows = n_occurring + 1
        #: the word of each row (the last row: the first empty column)
        self.words = np.append(np.flatnonzero(occurs), np.argmin(occurs)).astype(np.int64)
        #: the row of each word
        self.rows = np.full(n_features, n_occurring, dtype=X.indices.dtype)
        self.rows[self.words[:-1]] = np.arange(n_occurring, dtype=X.indices.dtype)

    def matrix(self, X):
        """``X`` (a validated CSR) with its columns renumbered as the rows."""
        if not self.compressed:
            return X
        indices = self.rows[X.indices]
        return type(X)(X.data, indices, X.indptr, (X.shape[0], self.n_rows))

    def compress(self, table):
        """The rows of a full [n_features, ...] table that the fit keeps."""
        return np.ascontiguousarray(table[self.words]) if self.compressed else table

    def expand(self, table):
        """The full [n_features, ...] table of a fit's [n_rows, ...] table
        (every empty column gets the last row)."""
        if not self.compressed:
            return table
        out = np.empty((self.n_features,) + table.shape[1:], dtype=table.dtype)
        gather_rows(table, self.rows, out)
        return out

    def table_sum(self, table):
        """The float64 sum of ``expand(table)``, without expanding it."""
        total = float(table.sum(dtype=np.float64))
        if self.compressed:
            total += (self.n_features - self.n_rows) * float(table[-1].sum(dtype=np.float64))
        return total


@contextmanager
def fitting_on(model, vocabulary, tables, warm):
    """The block in which ``model`` fits on ``vocabulary``'s rows: it is
    ``model._vocabulary``, and the word tables named in ``tables`` (attributes
    of [n_features, K]) are compressed on entry when ``warm`` (a warm start
    reads them) and the fit's tables are expanded on exit.

    When the fit raises: a warm start whose tables no M-step has replaced
    yet gets the previous fit's full tables back as they were (so they are
    kept alive during a warm fit), and a previous fit's tables that the fit
    never touched are left alone. An interrupted fresh fit with
    ``init='uniform'`` keeps its compressed initial table expanded, whose
    rows for empty columns are then all the same row (not a distribution).
    """
    model._vocabulary = vocabulary
    previous = {name: getattr(model, name, None) for name in tables}
    entered = dict(previous)
    try:
        if warm:
            for name in tables:
                entered[name] = vocabulary.compress(previous[name])
                setattr(model, name, entered[name])
        yield
    except BaseException:
        if warm:
            for name in tables:
                if getattr(model, name, None) is entered[name]:  # no M-step ran
                    setattr(model, name, previous[name])
        raise
    finally:
        for name in tables:
            table = getattr(model, name, None)
            if (vocabulary.compressed and table is not None and table is not previous[name]
                    and table.shape[0] == vocabulary.n_rows):
                setattr(model, name, vocabulary.expand(table))
        del model._vocabulary


# ------------------------------------------------------------- seeding
def _as_scipy(X):
    """The validated CSR arrays as a scipy matrix, without copying."""
    data, indices, indptr, shape = X
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


class DocumentSeeds:
    """Smoothed documents as candidate component centres, and the KL cost of
    every document to a set of centres, computed on the blocked copy of the
    CSR matrix.

    A centre made from document ``j`` is the word distribution
    ``c = smoothing * x_j / n_j + (1 - smoothing) * b``, where ``b`` is the
    corpus word distribution smoothed by ``alpha`` (an empty document gives
    ``b``), so that every word of the corpus has a positive probability. The
    cost of document ``i`` for centre ``c`` is ``n_i * KL(p_i || c)`` with
    ``p_i = x_i / n_i`` its empirical word distribution:
    ``sum_w x_iw log(x_iw / n_i) - sum_w x_iw log c_w``. The first term does
    not depend on the centre. Summed over documents, each taking its cheapest
    centre, it is minus the log-likelihood of a hard assignment, up to a
    constant.

    The second term is not computed from the centre's full table: ``log c_w
    = log((1 - smoothing) b_w) + delta_w`` with ``delta_w = log(1 + smoothing
    x_jw / (n_j (1 - smoothing) b_w))``, which is 0 but on document ``j``'s
    words. So ``sum_w x_iw log c_w`` is one sum against the background,
    ``base[i] = sum_w x_iw log((1 - smoothing) b_w)``, computed once, plus
    the sum of ``x_iw delta_w`` over the words of the candidates
    (``fastem._kernels.blocked.blocked_add_jll``), whose entries are a part
    of the matrix: on the benchmark corpus (9M non-zeros), 15% for one
    candidate and 52% for 30 drawn by length. Costs of 30 candidates there
    (2 threads, median of 10): 19 ms, against 59-61 ms from their full log
    tables in blocks of 8 (``blocked_jll``), with the same seeds. The costs
    are then finished, capped and summed in one pass
    (``fastem._kernels.multinomial.capped_kl_costs``): 20 seeds on that
    corpus 357-379 -> 257-261 ms (AMD Zen 5), with the same seeds.

    ``n_features`` is the size of the vocabulary when ``X`` holds only some
    of its columns (a :class:`Vocabulary`'s rows, the others empty): ``b``
    is normalised over all of them.

    ``blocks``: the fit's row-blocked copy of ``X``
    (``fastem._base.make_blocks``), used when it holds every row; otherwise
    the first call of :meth:`costs` makes one.
    """

    def __init__(self, X, alpha, smoothing, n_features=None, blocks=None):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}.")
        self.X = X
        self.smoothing = smoothing
        if blocks is not None and blocks.free.shape[0] != X.shape[0]:
            raise ValueError(f"blocks hold {blocks.free.shape[0]} rows, X has {X.shape[0]}.")
        self.blocks = blocks if blocks is not None and blocks.free.all() else None
        self._base = None
        Xs = _as_scipy(X)
        background = np.asarray(Xs.sum(axis=0), dtype=np.float64).ravel() + alpha
        n_features = X.shape[1] if n_features is None else n_features
        total = background.sum() + alpha * (n_features - X.shape[1])  # (the columns not held)
        self.background = (background / total if total > 0
                           else np.full(X.shape[1], 1.0 / n_features))
        if not Xs.has_canonical_format:  # duplicates would split x log x
            Xs = Xs.copy()
            Xs.sum_duplicates()
        self.lengths = np.empty(X.shape[0])
        row_xlogx = np.empty(X.shape[0])
        kernels.row_sums_xlogx(Xs.data, Xs.indptr, self.lengths, row_xlogx)
        # sum_w x_iw log(x_iw / n_i) = sum_w x_iw log x_iw - n_i log n_i
        self.neg_entropy = row_xlogx - xlogy(self.lengths, self.lengths)

    def _shares(self, rows):
        """What the documents ``rows`` add to the background in their centres:
        ``(words, share, empty)``, ``share[v, c] = smoothing * x_jw / n_j`` for
        the sorted distinct ``words[v]`` of the documents (``j = rows[c]``), and
        which documents are empty (their centre is ``b`` itself)."""
        data, indices, indptr = self.X[:3]
        sizes = indptr[rows + 1] - indptr[rows]
        # the positions of the rows' entries, row after row
        entries = np.repeat(indptr[rows] - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
        words, word_row = np.unique(indices[entries], return_inverse=True)
        center = np.repeat(np.arange(rows.shape[0]), sizes)
        share = np.zeros((words.shape[0], rows.shape[0]))
        # np.add.at: duplicate entries add up; an empty document has no entries
        np.add.at(share, (word_row, center),
                  self.smoothing * data[entries] / self.lengths[rows][center])
        return words, share, self.lengths[rows] == 0

    def log_centers(self, rows):
        """[X.shape[1], len(rows)] C-contiguous log word distributions."""
        rows = np.asarray(rows, dtype=np.int64)
        words, share, empty = self._shares(rows)
        centers = np.empty((self.X.shape[1], rows.shape[0]))
        centers[:] = ((1.0 - self.smoothing) * self.background)[:, None]
        centers[words] += share
        centers[:, empty] = self.background[:, None]
        with np.errstate(divide="ignore"):
            return np.log(centers)

    def _blocks_and_base(self):
        """The blocked copy and ``base`` (see above), made on the first call."""
        if self._base is None:
            if self.blocks is None:
                self.blocks = make_blocks(self.X, N_LOCAL_TRIALS, numba.get_num_threads())
            with np.errstate(divide="ignore"):  # a word no document has (alpha = 0): never read
                log_background = np.log((1.0 - self.smoothing) * self.background)
            self._base = blocks_jll(self.blocks, np.zeros(1), log_background[:, None],
                                    self.X.shape[0])[:, 0]
            self._col_map = np.full(self.X.shape[1], -1, dtype=np.int64)
        return self.blocks, self._base

    def costs(self, rows, cap=None):
        """``(cost, sums)``: the [n_samples, len(rows)] cost ``n_i KL(p_i ||
        c_j)`` of every document for the centre of each document ``j`` in
        ``rows``, clipped at 0 and, where given, at ``cap`` [n_samples] (a
        document's current cost), and the sum of each column (``sums``, in a
        fixed order: ``fastem._kernels.multinomial.capped_kl_costs``)."""
        blocks, base = self._blocks_and_base()
        rows = np.asarray(rows, dtype=np.int64)
        words, share, empty = self._shares(rows)
        scaled = (1.0 - self.smoothing) * self.background[words][:, None]
        delta = np.zeros_like(share)
        np.log1p(np.divide(share, scaled, where=share > 0, out=delta), where=share > 0, out=delta)
        jll = np.repeat(base[:, None], rows.shape[0], axis=1)
        col_map = self._col_map  # -1 but for the words of this call
        col_map[words] = np.arange(words.shape[0])
        try:
            blocks_add_jll(blocks, col_map, delta, jll)
        finally:  # (a stale entry would index past the next call's table)
            col_map[words] = -1
        # the centre of an empty document is b itself: log b = log((1 - s) b) - log(1 - s)
        shift = np.where(empty, np.log1p(-self.smoothing), 0.0)
        cap = np.full(self.X.shape[0], np.inf) if cap is None else cap
        sums = np.empty(rows.shape[0])
        # -inf jll (alpha=0, a word absent from b) cannot happen for a word the
        # document has, so NaN cannot either
        capped_kl_costs(jll, self.neg_entropy, self.lengths, shift,
                        np.ascontiguousarray(cap, dtype=np.float64), sums)
        return jll, sums


#: candidates tried per seed by ``kl_kmeans_plusplus`` (see its docstring)
N_LOCAL_TRIALS = 30
#: bound on the memory of the candidates' costs held at once (one
#: [n_samples, candidates] float64 array): all 30 trials for up to 280,000
#: documents, 8 at a million (the 8 of earlier versions took twice as much)
TRIAL_BYTES = 64 << 20


def kl_kmeans_plusplus(X, n_clusters, random_state, *, alpha, smoothing=0.5,
                       n_local_trials=N_LOCAL_TRIALS, n_features=None, blocks=None):
    """Greedy k-means++ seeding of documents with the KL divergence.

    The first seed is a document drawn uniformly. Every next one is the best
    of ``n_local_trials`` candidates drawn with probability proportional to
    their current cost (``n_i KL(p_i || c)`` to the nearest seed so far, see
    :class:`DocumentSeeds`): the candidate that lowers the total cost of the
    *other* documents most (Arthur & Vassilvitskii 2007, with scikit-learn's
    greedy trials). Divergences come from the blocked copy of ``X`` (see
    :class:`DocumentSeeds`), so ``X`` is never densified; the work is
    ``n_clusters`` passes over the entries of the candidates' words, and the
    candidates' costs take at most ``TRIAL_BYTES`` (at least one candidate's).

    Why more trials than scikit-learn's ``2 + log K``, and why leave the
    candidate out: a single document is a noisy estimate of its topic, so a
    document's divergence from a seed of its own topic is not much smaller
    than from another topic's (on ``make_corpus(3000, 300, 4, 100)``, 0.95
    against 1.3-1.4 nats per word); the draw is then nearly uniform and the
    greedy choice has to find the new topic. With 3 trials the 4 seeds came
    from 4 different classes in 8 of 40 draws, with 10 in 37, with 30 in 40.
    Counting the candidate's own gain favours long outlier documents (their
    cost drops from very large to at most ``n_j log 2``); leaving it out
    raised the objective EM reached on 20 Newsgroups (30 trials, mean of 8
    seeds: -1634.1 per document against -1635.0).

    Returns ``(log_centers, seeds)``: the [X.shape[1], n_clusters] log word
    distributions of the smoothed seed documents and their row indices
    (``n_features`` and ``blocks``: as for :class:`DocumentSeeds`).
    """
    n_samples = X.shape[0]
    seeding = DocumentSeeds(X, alpha, smoothing, n_features, blocks)
    trial_block = max(1, TRIAL_BYTES // (8 * max(1, n_samples)))
    seeds = [int(random_state.randint(n_samples))]
    current = seeding.costs(seeds)[0][:, 0]
    # a seed is covered: it is never drawn again (its divergence from its own
    # smoothed centre is not 0, so without this it could be)
    current[seeds[0]] = 0.0
    for _ in range(1, n_clusters):
        total = current.sum()
        if total > 0:
            draws = random_state.uniform(size=n_local_trials) * total
            trials = np.searchsorted(np.cumsum(current), draws, side="right")
            trials = np.minimum(trials, n_samples - 1)
        else:  # every document is as cheap as it can be: any unused one will do
            unused = np.setdiff1d(np.arange(n_samples), seeds)
            trials = random_state.choice(unused if unused.size else np.arange(n_samples),
                                         size=1)
        best = (np.inf, None, None)
        for start in range(0, trials.shape[0], trial_block):
            block = trials[start:start + trial_block]
            cost, sums = seeding.costs(block, cap=current)
            # the total cost of the other documents: the candidate keeps its current cost
            potential = sums - cost[block, np.arange(block.shape[0])] + current[block]
            j = int(np.argmin(potential))
            if best[1] is None or potential[j] < best[0]:
                best = (potential[j], int(block[j]), cost[:, j].copy())
        seeds.append(best[1])
        current = best[2]
        current[best[1]] = 0.0
    return seeding.log_centers(seeds), np.array(seeds, dtype=np.int64)
