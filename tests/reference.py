"""Slow, obvious reference implementations of the kernels in ``fastem._kernels.csr``.

Written independently of the kernels: each row of the CSR matrix is turned into
a dense float64 vector (duplicate entries summed, as the kernels do), and the
maths is done with plain NumPy/SciPy on that vector. Clarity over speed.

Semantics reproduced (see the docstring of ``fastem/_kernels/csr.py``):

* a zero count contributes nothing to the joint log-likelihood, even where
  ``log_prob`` is -inf (0 * -inf is taken as 0);
* a row whose allowed jll values are all -inf has log-norm -inf and uniform
  responsibilities over its allowed component range;
* an empty row has ``jll = log_prior``;
* ``em_pass`` restricts a labelled row (``labels[i] >= 0``) to components
  ``label_bounds[labels[i]]:label_bounds[labels[i] + 1]``, skips rows with
  weight 0 and returns ``sum_i weight_i * log p(x_i)``.
"""
import numpy as np
from scipy.special import logsumexp


def dense_rows(X):
    """Dense float64 copy of the CSR matrix ``X``; duplicate entries are summed.

    Built by hand with ``np.add.at`` so that it does not depend on whether
    SciPy canonicalises the matrix (duplicates, unsorted indices).
    """
    n_rows, n_features = X.shape
    dense = np.zeros((n_rows, n_features), dtype=np.float64)
    indptr = np.asarray(X.indptr, dtype=np.int64)
    row_of_entry = np.repeat(np.arange(n_rows), np.diff(indptr))
    np.add.at(dense, (row_of_entry, np.asarray(X.indices, dtype=np.int64)),
              np.asarray(X.data, dtype=np.float64))
    return dense


def _row_jll(x, log_prior, log_prob):
    """jll of one dense row ``x``: log_prior + sum over the non-zero words."""
    jll = np.array(log_prior, dtype=np.float64, copy=True)
    for w in np.flatnonzero(x):
        jll = jll + x[w] * log_prob[w]
    return jll


def _row_posterior(jll, lo, hi):
    """Responsibilities and log-norm of one row restricted to ``[lo, hi)``."""
    resp = np.zeros(len(jll), dtype=np.float64)
    allowed = jll[lo:hi]
    if np.all(allowed == -np.inf):
        resp[lo:hi] = 1.0 / (hi - lo)
        return resp, -np.inf
    log_norm = logsumexp(allowed)
    resp[lo:hi] = np.exp(allowed - log_norm)
    return resp, log_norm


def ref_joint_log_likelihood(X, log_prior, log_prob):
    """``jll[i, k] = log_prior[k] + sum_w X[i, w] * log_prob[w, k]`` (0 * -inf = 0)."""
    dense = dense_rows(X)
    log_prob = np.asarray(log_prob, dtype=np.float64)
    jll = np.empty((X.shape[0], len(log_prior)), dtype=np.float64)
    for i in range(X.shape[0]):
        jll[i] = _row_jll(dense[i], log_prior, log_prob)
    return jll


def ref_add_jll(X, col_map, table, out):
    """``out[i] += sum_w X[i, w] * table[col_map[w]]`` over the words with
    ``col_map[w] >= 0``; returns a new array."""
    dense = dense_rows(X)
    out = np.array(out, dtype=np.float64, copy=True)
    for i in range(X.shape[0]):
        for w in np.flatnonzero(dense[i]):
            if col_map[w] >= 0:
                out[i] = out[i] + dense[i, w] * table[col_map[w]]
    return out


def ref_log_posterior(jll):
    """Row-wise softmax over all components -> ``(resp, log_norm)``."""
    jll = np.asarray(jll, dtype=np.float64)
    n_rows, n_components = jll.shape
    resp = np.zeros_like(jll)
    log_norm = np.empty(n_rows, dtype=np.float64)
    for i in range(n_rows):
        resp[i], log_norm[i] = _row_posterior(jll[i], 0, n_components)
    return resp, log_norm


def ref_scatter_counts(X, resp, weight):
    """``counts[w, k] = sum_i weight_i X[i, w] resp[i, k]``,
    ``class_counts[k] = sum_i weight_i resp[i, k]``; rows with weight 0 are
    ignored entirely (their ``resp`` may hold anything, even NaN)."""
    dense = dense_rows(X)
    resp = np.asarray(resp, dtype=np.float64)
    counts = np.zeros((X.shape[1], resp.shape[1]), dtype=np.float64)
    class_counts = np.zeros(resp.shape[1], dtype=np.float64)
    for i in range(X.shape[0]):
        if weight[i] == 0:
            continue
        counts += weight[i] * np.outer(dense[i], resp[i])
        class_counts += weight[i] * resp[i]
    return counts, class_counts


def ref_em_pass(X, weight, labels, label_bounds, log_prior, log_prob, resp_dtype=np.float64):
    """One E+M pass -> ``(objective, counts, class_counts)``.

    With ``resp_dtype=np.float32`` (the pass with a float32 table), the
    counts add the weighted responsibilities of each row whose component is
    not known (unlabelled, or labelled with more than one possible component)
    rounded to float32, those below float32's smallest normal as 0; rows of
    one known component, and the class counts, add them unrounded.
    """
    dense = dense_rows(X)
    log_prob = np.asarray(log_prob, dtype=np.float64)
    n_features, n_components = log_prob.shape
    counts = np.zeros((n_features, n_components), dtype=np.float64)
    class_counts = np.zeros(n_components, dtype=np.float64)
    objective = 0.0
    for i in range(X.shape[0]):
        if weight[i] == 0:
            continue
        if labels[i] < 0:
            lo, hi = 0, n_components
        else:
            lo, hi = label_bounds[labels[i]], label_bounds[labels[i] + 1]
        jll = _row_jll(dense[i], log_prior, log_prob)
        resp, log_norm = _row_posterior(jll, lo, hi)
        objective += weight[i] * log_norm
        if resp_dtype == np.float32 and (labels[i] < 0 or hi - lo > 1):
            weighted = weight[i] * resp
            rounded = weighted.astype(np.float32).astype(np.float64)
            rounded[np.abs(weighted) < np.finfo(np.float32).tiny] = 0.0
            counts += np.outer(dense[i], rounded)
        else:
            counts += weight[i] * np.outer(dense[i], resp)
        class_counts += weight[i] * resp
    return objective, counts, class_counts


# ==========================================================================
# Bernoulli mixtures (fastem.mixture.BernoulliMixture)
# ==========================================================================
# Presence/absence semantics: an entry of X is present when its value (the
# sum of its stored duplicates, all >= 0) is non-zero; stored zeros are
# absent. Parameters are in the public layout: ``weights`` [K] and ``means``
# [K, n_features]. Everything is computed densely from the full Bernoulli
# formula ``x log μ + (1 - x) log(1 - μ)``, not from the sparse log-odds form
# the estimator uses.

def dense_presence(X):
    """Dense float64 0/1 matrix: 1 where the (duplicate-summed) entry is non-zero."""
    return (dense_rows(X) != 0).astype(np.float64)


def ref_bernoulli_joint_log_likelihood(X, weights, means):
    """``jll[n, k] = log π_k + Σ_i [x_ni log μ_ki + (1 - x_ni) log(1 - μ_ki)]``."""
    x = dense_presence(X)
    means = np.asarray(means, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(weights, dtype=np.float64))
    jll = np.empty((x.shape[0], means.shape[0]), dtype=np.float64)
    for n in range(x.shape[0]):
        for k in range(means.shape[0]):
            jll[n, k] = log_weights[k] + np.sum(x[n] * np.log(means[k])
                                                + (1.0 - x[n]) * np.log(1.0 - means[k]))
    return jll


def ref_bernoulli_em_pass(X, weights, means):
    """E-step and M-step statistics -> ``(log_likelihood, counts, class_counts)``
    with ``counts[i, k] = Σ_n γ_nk x_ni`` and ``class_counts[k] = Σ_n γ_nk``."""
    resp, log_norm = ref_log_posterior(ref_bernoulli_joint_log_likelihood(X, weights, means))
    x = dense_presence(X)
    return log_norm.sum(), x.T @ resp, resp.sum(axis=0)


def ref_bernoulli_map_objective(X, weights, means, a, b, concentration):
    """Per-sample MAP objective: ``[Σ_n log p(x_n) + Σ (a-1) log μ + (b-1) log(1-μ)
    + Σ_k (α_k - 1) log π_k] / N``; a term whose coefficient is 0 counts as 0
    (an empty component with α_k = 1 has π_k = 0)."""
    _, log_norm = ref_log_posterior(ref_bernoulli_joint_log_likelihood(X, weights, means))
    means = np.asarray(means, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    concentration = np.broadcast_to(np.asarray(concentration, dtype=np.float64), weights.shape)
    total = log_norm.sum()
    total += (a - 1.0) * np.log(means).sum() + (b - 1.0) * np.log(1.0 - means).sum()
    for k in range(weights.shape[0]):
        if concentration[k] != 1.0:
            total += (concentration[k] - 1.0) * np.log(weights[k])
    return total / X.shape[0]


def ref_bernoulli_tables(mean):
    """``fastem._kernels.bernoulli.bernoulli_tables``: ``(log_odds,
    log_complement, sum_log_mean)`` of Bernoulli means [n, K] (kernel layout):
    ``log mean - log1p(-mean)``, the column sums of ``log1p(-mean)`` and the
    sum of ``log mean``, with numpy."""
    with np.errstate(divide="ignore"):
        log_mean = np.log(mean)
        log_one_minus = np.log1p(-mean)
    return log_mean - log_one_minus, log_one_minus.sum(axis=0), log_mean.sum()


def ref_bernoulli_means(counts, class_counts, a, b, eps):
    """``fastem._kernels.bernoulli.bernoulli_means``: ``(counts + a - 1) /
    (N_k + a + b - 2)`` clipped to ``[eps, 1 - eps]``, 0.5 in a column whose
    denominator is not positive, with numpy."""
    denominator = np.asarray(class_counts, dtype=np.float64) + (a + b - 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (np.asarray(counts, dtype=np.float64) + (a - 1.0)) / denominator
    mean[:, ~(denominator > 0)] = 0.5
    return np.clip(mean, eps, 1.0 - eps)


# ---------------------------------------------------------------------------
# fastem._kernels.multinomial
# ---------------------------------------------------------------------------

def ref_smoothed_log_prob(counts, alpha):
    """Column-normalised ``log(counts + alpha)``; a column with zero total is uniform."""
    counts = np.asarray(counts, dtype=np.float64)
    out = np.empty_like(counts)
    for k in range(counts.shape[1]):
        column = counts[:, k] + alpha
        total = column.sum()
        if total == 0:
            out[:, k] = -np.log(counts.shape[0])
        else:
            with np.errstate(divide="ignore"):
                out[:, k] = np.log(column / total)
    return out


def ref_capped_kl_costs(jll, neg_entropy, lengths, shift, cap):
    """``fastem._kernels.multinomial.capped_kl_costs``: ``(costs, column sums)``
    with ``costs = min(max(neg_entropy - jll + lengths * shift, 0), cap)``."""
    cost = neg_entropy[:, None] - jll + lengths[:, None] * shift[None, :]
    cost = np.minimum(np.maximum(cost, 0.0), cap[:, None])
    return cost, cost.sum(axis=0)


def ref_row_sums_xlogx(data, indptr):
    """``fastem._kernels.csr.row_sums_xlogx``: each row's sum of stored values
    and of ``x log x`` (``scipy.special.xlogy``), entry by entry."""
    from scipy.special import xlogy

    n = indptr.shape[0] - 1
    values = [np.asarray(data[indptr[i]:indptr[i + 1]], dtype=np.float64) for i in range(n)]
    return (np.array([v.sum() for v in values]), np.array([xlogy(v, v).sum() for v in values]))


def ref_count_invalid_entries(data, indices, n_features):
    """``[bad_index, non_finite, negative]`` counts over the stored entries."""
    data = np.asarray(data, dtype=np.float64)
    indices = np.asarray(indices, dtype=np.int64)
    finite = np.isfinite(data)
    return np.array([np.sum((indices < 0) | (indices >= n_features)),
                     np.sum(~finite), np.sum(finite & (data < 0))])


# ==========================================================================
# Gaussian mixtures (fastem._kernels.gaussian, fastem.GaussianMixture)
# ==========================================================================
# Parameters in scikit-learn's public layout: ``weights`` [K], ``means``
# [K, d] and ``covariances`` (full [K, d, d], tied [d, d], diag [K, d],
# spherical [K]). Every log-density comes from scipy.stats.multivariate_normal
# on the full covariance matrix (not from a Cholesky factor), on a dense
# float64 copy of X.

def full_covariances(covariances, covariance_type, n_components, n_features):
    """Any covariance layout as [K, d, d] matrices."""
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.repeat(cov[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(n_features) for c in cov])


def ref_gaussian_jll(X, weights, means, covariances, covariance_type):
    """``log π_k + log N(x_n | μ_k, Σ_k)``, shape [n_samples, K]."""
    from scipy.stats import multivariate_normal
    X = dense_rows(X) if hasattr(X, "indptr") else np.asarray(X, dtype=np.float64)
    K, d = np.shape(means)
    covs = full_covariances(covariances, covariance_type, K, d)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return np.column_stack([log_w[k] + multivariate_normal(means[k], covs[k]).logpdf(X).reshape(-1)
                            for k in range(K)])


def ref_gaussian_em_stats(X, weights, means, covariances, covariance_type, shift):
    """E-step by SciPy, then the statistics the dense kernels return:
    ``(Σ log p(x), nk, s1 = Σγ(x - shift_k), s2)`` with s2 the full outer
    products [K, d, d] for 'full', the squares [K, d] for 'diag'/'spherical',
    None for 'tied'."""
    X = dense_rows(X) if hasattr(X, "indptr") else np.asarray(X, dtype=np.float64)
    jll = ref_gaussian_jll(X, weights, means, covariances, covariance_type)
    log_norm = logsumexp(jll, axis=1)
    resp = np.exp(jll - log_norm[:, None])
    return (log_norm.sum(), *ref_gaussian_moments(X, resp, shift, covariance_type))


def ref_gaussian_moments(X, resp, shift, covariance_type):
    """``(nk, s1 = Σγ(x - shift_k), s2)`` of responsibilities ``resp``, s2 as
    in ``ref_gaussian_em_stats``."""
    X = np.asarray(X, dtype=np.float64)
    K = np.shape(shift)[0]
    nk = resp.sum(axis=0)
    s1 = np.array([resp[:, k] @ (X - shift[k]) for k in range(K)])
    if covariance_type == "full":
        s2 = np.array([(resp[:, k, None] * (X - shift[k])).T @ (X - shift[k]) for k in range(K)])
    elif covariance_type == "tied":
        s2 = None
    else:
        s2 = np.array([resp[:, k] @ (X - shift[k]) ** 2 for k in range(K)])
    return nk, s1, s2


# ==========================================================================
# fastem.preprocessing.DocumentNormalizer
# ==========================================================================

def ref_document_normalizer(X_fit, X, log_tf, idf, norm, length):
    """Rennie et al. (2003) §4 on dense float64 copies, one row at a time.

    ``df[j]`` counts the rows of ``X_fit`` whose (duplicate-summed) value in
    column ``j`` is non-zero; ``idf[j] = log(n_docs / max(df[j], 1))``. Each
    row of ``X`` becomes ``log(1 + x)`` (if ``log_tf``), times ``idf`` (if
    ``idf``), then is scaled so that its sum (``'l1'``) or Euclidean norm
    (``'l2'``) is ``length``; a row whose norm is 0 stays all-zero. Returns a
    dense array.
    """
    def dense(A):
        return dense_rows(A) if hasattr(A, "indptr") else np.array(A, dtype=np.float64)

    fitted, X = dense(X_fit), dense(X)
    n_docs, n_features = fitted.shape
    weights = np.empty(n_features)
    for j in range(n_features):
        df = sum(1 for i in range(n_docs) if fitted[i, j] != 0)
        weights[j] = np.log(n_docs / max(df, 1))
    out = np.zeros_like(X)
    for i in range(X.shape[0]):
        row = X[i].copy()
        if log_tf:
            row = np.log(1.0 + row)
        if idf:
            row = row * weights
        if norm is not None:
            total = row.sum() if norm == "l1" else np.sqrt(np.sum(row ** 2))
            if total > 0:
                row = row * (length / total)
        out[i] = row
    return out


def _rows_and_free(indptr, free):
    """``(indptr as int64, n_rows, free)``, every row free by default."""
    indptr = np.asarray(indptr, dtype=np.int64)
    n_rows = len(indptr) - 1
    return indptr, n_rows, np.ones(n_rows, dtype=bool) if free is None else free


def ref_blocks(data, indices, indptr, rows_per_block, free=None, hot=()):
    """The row-blocked copy of ``fastem._kernels.blocked``, the obvious way:
    for each block of ``rows_per_block`` rows, the stored non-zero entries of
    its ``free`` rows (default: all) outside the ``hot`` columns as
    ``(column, row within the block, value)``, sorted by column and then by
    their order in the CSR (which is row order)."""
    indptr, n_rows, free = _rows_and_free(indptr, free)
    hot = set(int(w) for w in hot)
    blocks = []
    for r0 in range(0, n_rows, rows_per_block):
        entries = []
        for r in range(r0, min(n_rows, r0 + rows_per_block)):
            if not free[r]:
                continue
            for p in range(indptr[r], indptr[r + 1]):
                if data[p] != 0 and int(indices[p]) not in hot:
                    entries.append((int(indices[p]), p, r - r0, float(data[p])))
        entries.sort()
        blocks.append([(w, r, v) for w, _, r, v in entries])
    return blocks


def ref_hot_cols(data, indices, indptr, n_hot, free=None):
    """The hot words of the blocked copy: the ``n_hot`` columns with the most
    stored non-zero entries in the ``free`` rows (ties: the lower column),
    among the columns that have any, in increasing order."""
    indptr, n_rows, free = _rows_and_free(indptr, free)
    entries = {}
    for r in range(n_rows):
        if free[r]:
            for p in range(indptr[r], indptr[r + 1]):
                if data[p] != 0:
                    entries[int(indices[p])] = entries.get(int(indices[p]), 0) + 1
    most = sorted(entries, key=lambda w: (-entries[w], w))
    return sorted(most[:n_hot])


def ref_hot_rows(data, indices, indptr, hot, free=None):
    """Each row's stored non-zero entries of the ``hot`` columns as
    ``(column, value)``, in CSR order; none for rows that are not free."""
    indptr, n_rows, free = _rows_and_free(indptr, free)
    hot = set(int(w) for w in hot)
    return [[(int(indices[p]), float(data[p])) for p in range(indptr[r], indptr[r + 1])
             if free[r] and data[p] != 0 and int(indices[p]) in hot] for r in range(n_rows)]


def ref_fixed_counts(X, weight, labels, label_bounds):
    """Dense [n_features, K] counts and [K] class counts of the rows with one
    known component (``label_bounds`` range of size 1) and non-zero weight."""
    dense = dense_rows(X)
    n_components = int(label_bounds[-1])
    counts = np.zeros((X.shape[1], n_components))
    class_counts = np.zeros(n_components)
    for i in range(X.shape[0]):
        if labels[i] < 0 or weight[i] == 0:
            continue
        lo, hi = label_bounds[labels[i]], label_bounds[labels[i] + 1]
        if hi - lo == 1:
            counts[:, lo] += weight[i] * dense[i]
            class_counts[lo] += weight[i]
    return counts, class_counts


def ref_column_run(table, w, buf, ent_row, ent_val, start, stop, k0, width, scatter):
    """The column-run loops of the blocked pass, entry by entry in float64:
    ``buf[ent_row[e]] += ent_val[e] * table[w]`` (scatter) or
    ``table[w] += ent_val[e] * buf[ent_row[e]]``, over columns ``k0:k0 + width``."""
    table = np.array(table, dtype=np.float64)
    buf = np.array(buf, dtype=np.float64)
    k1 = min(k0 + width, table.shape[1])
    for e in range(start, stop):
        r, x = int(ent_row[e]), float(ent_val[e])
        for k in range(k0, k1):
            if scatter:
                buf[r, k] += x * float(table[w, k])
            else:
                table[w, k] += x * buf[r, k]
    return table, buf
