"""Row kernels for Gaussian mixtures (``fastem.GaussianMixture``).

Notation: ``X`` is dense [n_samples, n_features] (float32 or float64, C order)
or, for the diagonal and spherical models, CSR (``data``, ``indices``,
``indptr``). Parameters are float64: ``means`` [K, d], ``const`` [K] holds
``log π_k - d/2 log 2π + log det U_k`` (the row-independent part of the joint
log-likelihood), and the precision is given by its Cholesky factor ``U``
(upper triangular, precision = U Uᵀ, scikit-learn's ``precisions_cholesky_``)
or by its diagonal ``prec`` [K, d].

Each EM pass is fused: per row, the log-density of every component is
computed from the Cholesky factor (``y = (x - μ_k) U_k``, ``log N = const_k
- ½‖y‖²``), a max-shifted log-sum-exp gives the responsibilities (the CSR
helper ``_row_posterior``), and the M-step statistics are accumulated (with
full covariances, ``FULL_CHUNK_ROWS`` rows at a time, along rows). No
n_samples × K × d temporary exists; rows are split into contiguous chunks,
each chunk has its own accumulators, and the chunks are added in chunk order.

Statistics of the dense passes are taken about a per-component shift ``m_k``
(the current means), which avoids the cancellation of ``E[x²] - μ²``:

* ``nk[k] = Σ_n γ_nk``;
* ``s1[k, j] = Σ_n γ_nk (x_nj - m_kj)`` (spherical: unshifted ``Σ_n γ_nk x_nj``);
* full: ``s2[k, i, j] = Σ_n γ_nk (x_ni - m_ki)(x_nj - m_kj)`` (lower triangle
  ``j <= i`` filled; the caller symmetrises);
* diag: ``s2[k, j] = Σ_n γ_nk (x_nj - m_kj)²``; spherical: ``s2[k] = Σ_n γ_nk ‖x_n - m_k‖²``;
* tied: no second moment (the caller uses the fixed total scatter of X).

The CSR pass cannot shift (that would fill the zeros): it expands
``(x - μ)² p = x² p - 2 x μ p + μ² p`` into terms over the non-zeros plus one
constant per component, and accumulates ``Σ γ x`` and ``Σ γ x²`` over the
non-zeros in [d, K] layout (shift 0).

Nothing here validates input; ``fastem.gaussian`` does that first.
"""

import numpy as np
from numba import njit, prange

from .._config import JIT, PARALLEL_JIT
from .csr import _row_posterior


def row_chunks(n_rows, n_chunks):
    """int64 bounds of ``n_chunks`` contiguous row chunks of equal size."""
    n_chunks = max(1, min(int(n_chunks), max(n_rows, 1)))
    return np.linspace(0, n_rows, n_chunks + 1).round().astype(np.int64)


# --------------------------------------------------------------------------
# row helpers
# --------------------------------------------------------------------------

#: rows whose full-covariance statistics are computed together: the products
#: with a component's Cholesky factor and the second moments then run along
#: rows and vectorise (one row at a time, the triangular loops did not).
#: Measured on 200,000 x 32, K=16, 2 threads: em_pass_full 765 -> 220 ms,
#: jll_full 552 -> 120-130 ms
FULL_CHUNK_ROWS = 64


@njit(**JIT)
def _chunk_diffs(X, r0, r1, mean, dt):
    """``dt[i, r - r0] = X[r, i] - mean[i]`` for ``r`` in ``r0:r1``."""
    for i in range(mean.shape[0]):
        mu = mean[i]
        for r in range(r1 - r0):
            dt[i, r] = X[r0 + r, i] - mu


@njit(**JIT)
def _chunk_jll_full(X, r0, r1, means, prec_chol, const, dt, yt, out):
    """``out[r - r0, k] = const[k] - ½‖(X[r] - μ_k) U_k‖²`` for ``r`` in
    ``r0:r1`` (at most ``dt.shape[1]`` rows); ``dt`` and ``yt`` [d,
    FULL_CHUNK_ROWS] are scratch (the differences and products, transposed)."""
    n_components, d = means.shape
    m = r1 - r0
    for k in range(n_components):
        _chunk_diffs(X, r0, r1, means[k], dt)
        yt[:, :m] = 0.0
        for i in range(d):
            for j in range(i, d):
                u = prec_chol[k, i, j]
                for r in range(m):
                    yt[j, r] += dt[i, r] * u
        for r in range(m):
            total = 0.0
            for j in range(d):
                total += yt[j, r] * yt[j, r]
            out[r, k] = const[k] - 0.5 * total


@njit(**JIT)
def _row_jll_tied(x, mean_u, prec_chol, const, z, out):
    """Tied: ``z = x U`` once per row, then ``out[k] = const[k] - ½‖z - μ_k U‖²``."""
    n_components, d = mean_u.shape
    for j in range(d):
        z[j] = 0.0
    for i in range(d):
        xi = x[i]
        for j in range(i, d):
            z[j] += xi * prec_chol[i, j]
    for k in range(n_components):
        s = 0.0
        for j in range(d):
            t = z[j] - mean_u[k, j]
            s += t * t
        out[k] = const[k] - 0.5 * s


@njit(**JIT)
def _row_jll_diag(x, means, prec, const, out):
    """``out[k] = const[k] - ½ Σ_j (x_j - μ_kj)² p_kj``."""
    n_components, d = means.shape
    for k in range(n_components):
        s = 0.0
        for j in range(d):
            t = x[j] - means[k, j]
            s += t * t * prec[k, j]
        out[k] = const[k] - 0.5 * s


@njit(**JIT)
def _row_jll_spherical(x, means, prec, const, sq, out):
    """``sq[k] = ‖x - μ_k‖²``, ``out[k] = const[k] - ½ p_k sq[k]``."""
    n_components, d = means.shape
    for k in range(n_components):
        s = 0.0
        for j in range(d):
            t = x[j] - means[k, j]
            s += t * t
        sq[k] = s
        out[k] = const[k] - 0.5 * prec[k] * s


@njit(**JIT)
def _row_jll_sparse(data, indices, start, end, const, prec_t, mp_t, out):
    """CSR row: ``out[k] = const[k] + Σ_nz (x μ_jk p_jk - ½ x² p_jk)`` with
    ``prec_t = p.T`` and ``mp_t = (μ p).T`` [d, K] (``const`` holds ``-½ Σ μ² p``)."""
    n_components = out.shape[0]
    for k in range(n_components):
        out[k] = const[k]
    for p in range(start, end):
        x = data[p]
        if x == 0:
            continue
        j = indices[p]
        half_x2 = 0.5 * x * x
        for k in range(n_components):
            out[k] += x * mp_t[j, k] - half_x2 * prec_t[j, k]


# --------------------------------------------------------------------------
# fused E+M passes (dense)
# --------------------------------------------------------------------------

@njit(**JIT)
def _chunk_moments_full(X, r0, r1, shift, resp, dt, yt, nk, s1, s2):
    """Add the rows ``r0:r1``'s ``Σ γ``, ``Σ γ (x - m_k)`` and the lower
    triangle of ``Σ γ (x - m_k)(x - m_k)ᵀ`` to ``nk``, ``s1`` and ``s2``,
    with ``γ = resp[k, r - r0]`` (transposed, [K, FULL_CHUNK_ROWS]) and
    ``m = shift``: component by component, along rows (``dt``, ``yt``:
    scratch as in ``_chunk_jll_full``; ``yt`` gets the weighted differences)."""
    n_components, d = shift.shape
    m = r1 - r0
    for k in range(n_components):
        g = resp[k]
        total = 0.0
        for r in range(m):
            total += g[r]
        if total == 0.0:
            continue
        nk[k] += total
        _chunk_diffs(X, r0, r1, shift[k], dt)
        for i in range(d):
            s = 0.0
            for r in range(m):
                yt[i, r] = g[r] * dt[i, r]
                s += yt[i, r]
            s1[k, i] += s
        for i in range(d):
            for j in range(i + 1):
                s = 0.0
                for r in range(m):
                    s += yt[i, r] * dt[j, r]
                s2[k, i, j] += s


@njit(**PARALLEL_JIT)
def moments_full(X, resp, shift, bounds, nk, s1, s2):
    """The statistics of ``em_pass_full`` (about ``shift`` [K, d]) for given
    responsibilities ``resp`` [n_samples, K] (an initialisation's): overwrites
    ``nk``, ``s1`` and ``s2`` (lower triangle)."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = shift.shape
    p_nk = np.empty((n_chunks, n_components))
    p_s1 = np.empty((n_chunks, n_components, d))
    p_s2 = np.empty((n_chunks, n_components, d, d))
    for c in prange(n_chunks):
        dt = np.empty((d, FULL_CHUNK_ROWS))
        yt = np.empty((d, FULL_CHUNK_ROWS))
        resp_t = np.empty((n_components, FULL_CHUNK_ROWS))
        a_nk = np.zeros_like(p_nk[c])  # thread-local (see em_pass_full)
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        for r0 in range(bounds[c], bounds[c + 1], FULL_CHUNK_ROWS):
            r1 = min(bounds[c + 1], r0 + FULL_CHUNK_ROWS)
            for r in range(r1 - r0):
                for k in range(n_components):
                    resp_t[k, r] = resp[r0 + r, k]
            _chunk_moments_full(X, r0, r1, shift, resp_t, dt, yt, a_nk, a_s1, a_s2)
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(np.zeros(n_chunks), p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**PARALLEL_JIT)
def em_pass_full(X, means, prec_chol, const, bounds, nk, s1, s2):
    """Full covariances. Overwrites ``nk`` [K], ``s1`` [K, d] and ``s2``
    [K, d, d] (lower triangle) with statistics about ``means``; returns
    ``Σ_n log p(x_n)``."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = means.shape
    p_nk = np.empty((n_chunks, n_components))  # filled from thread-local sums
    p_s1 = np.empty((n_chunks, n_components, d))
    p_s2 = np.empty((n_chunks, n_components, d, d))
    p_ll = np.zeros(n_chunks)
    for c in prange(n_chunks):
        dt = np.empty((d, FULL_CHUNK_ROWS))
        yt = np.empty((d, FULL_CHUNK_ROWS))
        rows = np.empty((FULL_CHUNK_ROWS, n_components))
        resp = np.empty((n_components, FULL_CHUNK_ROWS))
        row_resp = np.empty(n_components)
        # accumulators allocated by the thread that fills them: slices of one
        # shared array would put two chunks' sums on one cache line
        a_nk = np.zeros_like(p_nk[c])
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        ll = 0.0
        for r0 in range(bounds[c], bounds[c + 1], FULL_CHUNK_ROWS):
            r1 = min(bounds[c + 1], r0 + FULL_CHUNK_ROWS)
            m = r1 - r0
            _chunk_jll_full(X, r0, r1, means, prec_chol, const, dt, yt, rows)
            for r in range(m):
                ll += _row_posterior(rows[r], 0, n_components, row_resp)
                for k in range(n_components):
                    resp[k, r] = row_resp[k]
            _chunk_moments_full(X, r0, r1, means, resp, dt, yt, a_nk, a_s1, a_s2)
        p_ll[c] = ll
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(p_ll, p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**PARALLEL_JIT)
def em_pass_tied(X, means, mean_u, prec_chol, const, bounds, nk, s1):
    """Tied covariance (``prec_chol`` [d, d], ``mean_u = means @ prec_chol``).
    Overwrites ``nk`` and ``s1`` (about ``means``); returns ``Σ_n log p(x_n)``."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = means.shape
    p_nk = np.empty((n_chunks, n_components))  # filled from thread-local sums
    p_s1 = np.empty((n_chunks, n_components, d))
    p_ll = np.zeros(n_chunks)
    for c in prange(n_chunks):
        z = np.empty(d)
        row = np.empty(n_components)
        resp = np.empty(n_components)  # apart from row: the softmax vectorises
        a_nk = np.zeros_like(p_nk[c])  # thread-local (see em_pass_full)
        a_s1 = np.zeros_like(p_s1[c])
        ll = 0.0
        for n in range(bounds[c], bounds[c + 1]):
            x = X[n]
            _row_jll_tied(x, mean_u, prec_chol, const, z, row)
            ll += _row_posterior(row, 0, n_components, resp)
            for k in range(n_components):
                g = resp[k]
                if g == 0.0:
                    continue
                a_nk[k] += g
                for j in range(d):
                    a_s1[k, j] += g * (x[j] - means[k, j])
        p_ll[c] = ll
        p_nk[c] = a_nk
        p_s1[c] = a_s1
    return _reduce(p_ll, p_nk, p_s1, p_s1[:0], nk, s1, s1[:0])


@njit(**JIT)
def _row_moments_diag(x, shift, resp, nk, s1, s2):
    """Add row ``x``'s ``γ_k``, ``γ_k (x - m_k)`` and ``γ_k (x - m_k)²`` to
    ``nk``, ``s1`` and ``s2`` [K, d], ``γ = resp``, ``m = shift``."""
    n_components, d = shift.shape
    for k in range(n_components):
        g = resp[k]
        if g == 0.0:
            continue
        nk[k] += g
        for j in range(d):
            t = x[j] - shift[k, j]
            gt = g * t
            s1[k, j] += gt
            s2[k, j] += gt * t


@njit(**PARALLEL_JIT)
def moments_diag(X, resp, shift, bounds, nk, s1, s2):
    """The statistics of ``em_pass_diag`` (about ``shift`` [K, d]) for given
    responsibilities ``resp`` [n_samples, K] (an initialisation's): overwrites
    ``nk``, ``s1`` and ``s2`` [K, d]."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = shift.shape
    p_nk = np.empty((n_chunks, n_components))
    p_s1 = np.empty((n_chunks, n_components, d))
    p_s2 = np.empty((n_chunks, n_components, d))
    for c in prange(n_chunks):
        a_nk = np.zeros_like(p_nk[c])  # thread-local (see em_pass_full)
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        for n in range(bounds[c], bounds[c + 1]):
            _row_moments_diag(X[n], shift, resp[n], a_nk, a_s1, a_s2)
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(np.zeros(n_chunks), p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**PARALLEL_JIT)
def em_pass_diag(X, means, prec, const, bounds, nk, s1, s2):
    """Diagonal (and spherical: ``prec`` rows constant) covariances.
    Overwrites ``nk``, ``s1`` and ``s2`` [K, d] (about ``means``); returns
    ``Σ_n log p(x_n)``."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = means.shape
    p_nk = np.empty((n_chunks, n_components))  # filled from thread-local sums
    p_s1 = np.empty((n_chunks, n_components, d))
    p_s2 = np.empty((n_chunks, n_components, d))
    p_ll = np.zeros(n_chunks)
    for c in prange(n_chunks):
        row = np.empty(n_components)
        resp = np.empty(n_components)  # apart from row: the softmax vectorises
        a_nk = np.zeros_like(p_nk[c])
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        ll = 0.0
        for n in range(bounds[c], bounds[c + 1]):
            x = X[n]
            _row_jll_diag(x, means, prec, const, row)
            ll += _row_posterior(row, 0, n_components, resp)
            _row_moments_diag(x, means, resp, a_nk, a_s1, a_s2)
        p_ll[c] = ll
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(p_ll, p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**PARALLEL_JIT)
def em_pass_spherical(X, means, prec, const, bounds, nk, s1, s2):
    """Spherical covariances (``prec`` [K]). Overwrites ``nk``, ``s1 = Σ_n γ_nk x_n``
    [K, d] (NOT shifted: one FMA per entry; the caller subtracts ``nk m``) and
    ``s2[k] = Σ_n γ_nk ‖x_n - m_k‖²`` [K] (about ``means``); returns
    ``Σ_n log p(x_n)``."""
    n_chunks = bounds.shape[0] - 1
    n_components, d = means.shape
    p_nk = np.empty((n_chunks, n_components))  # filled from thread-local sums
    p_s1 = np.empty((n_chunks, n_components, d))
    p_s2 = np.empty((n_chunks, n_components))
    p_ll = np.zeros(n_chunks)
    for c in prange(n_chunks):
        row = np.empty(n_components)
        resp = np.empty(n_components)  # apart from row: the softmax vectorises
        sq = np.empty(n_components)
        a_nk = np.zeros_like(p_nk[c])
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        ll = 0.0
        for n in range(bounds[c], bounds[c + 1]):
            x = X[n]
            _row_jll_spherical(x, means, prec, const, sq, row)
            ll += _row_posterior(row, 0, n_components, resp)
            for k in range(n_components):
                g = resp[k]
                if g == 0.0:
                    continue
                a_nk[k] += g
                a_s2[k] += g * sq[k]
                for j in range(d):  # raw Σγx: one FMA per entry (the caller shifts)
                    a_s1[k, j] += g * x[j]
        p_ll[c] = ll
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(p_ll, p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**PARALLEL_JIT)
def em_pass_sparse(data, indices, indptr, const, prec_t, mp_t, bounds, nk, s1, s2):
    """Diagonal/spherical covariances on CSR rows. Overwrites ``nk`` [K] and
    ``s1 = Σ γ x``, ``s2 = Σ γ x²`` [d, K] (over the non-zeros, shift 0);
    returns ``Σ_n log p(x_n)``."""
    n_chunks = bounds.shape[0] - 1
    d, n_components = prec_t.shape
    p_nk = np.empty((n_chunks, n_components))  # filled from thread-local sums
    p_s1 = np.empty((n_chunks, d, n_components))
    p_s2 = np.empty((n_chunks, d, n_components))
    p_ll = np.zeros(n_chunks)
    for c in prange(n_chunks):
        row = np.empty(n_components)
        resp = np.empty(n_components)  # apart from row: the softmax vectorises
        a_nk = np.zeros_like(p_nk[c])
        a_s1 = np.zeros_like(p_s1[c])
        a_s2 = np.zeros_like(p_s2[c])
        ll = 0.0
        for n in range(bounds[c], bounds[c + 1]):
            start, end = indptr[n], indptr[n + 1]
            _row_jll_sparse(data, indices, start, end, const, prec_t, mp_t, row)
            ll += _row_posterior(row, 0, n_components, resp)
            for k in range(n_components):
                a_nk[k] += resp[k]
            for p in range(start, end):
                x = data[p]
                j = indices[p]
                for k in range(n_components):
                    gx = resp[k] * x
                    a_s1[j, k] += gx
                    a_s2[j, k] += gx * x
        p_ll[c] = ll
        p_nk[c] = a_nk
        p_s1[c] = a_s1
        p_s2[c] = a_s2
    return _reduce(p_ll, p_nk, p_s1, p_s2, nk, s1, s2)


@njit(**JIT)
def _reduce(p_ll, p_nk, p_s1, p_s2, nk, s1, s2):
    """Add per-chunk accumulators in chunk order into the outputs."""
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    total = 0.0
    for c in range(p_ll.shape[0]):
        total += p_ll[c]
        nk += p_nk[c]
        s1 += p_s1[c]
        if p_s2.shape[0] > 0:
            s2 += p_s2[c]
    return total


# --------------------------------------------------------------------------
# joint log-likelihood only (prediction)
# --------------------------------------------------------------------------

@njit(**PARALLEL_JIT)
def jll_full(X, means, prec_chol, const, bounds, out):
    d = means.shape[1]
    for c in prange(bounds.shape[0] - 1):
        dt = np.empty((d, FULL_CHUNK_ROWS))
        yt = np.empty((d, FULL_CHUNK_ROWS))
        for r0 in range(bounds[c], bounds[c + 1], FULL_CHUNK_ROWS):
            r1 = min(bounds[c + 1], r0 + FULL_CHUNK_ROWS)
            _chunk_jll_full(X, r0, r1, means, prec_chol, const, dt, yt, out[r0:r1])


@njit(**PARALLEL_JIT)
def jll_tied(X, mean_u, prec_chol, const, bounds, out):
    d = mean_u.shape[1]
    for c in prange(bounds.shape[0] - 1):
        z = np.empty(d)
        for n in range(bounds[c], bounds[c + 1]):
            _row_jll_tied(X[n], mean_u, prec_chol, const, z, out[n])


@njit(**PARALLEL_JIT)
def jll_diag(X, means, prec, const, bounds, out):
    for c in prange(bounds.shape[0] - 1):
        for n in range(bounds[c], bounds[c + 1]):
            _row_jll_diag(X[n], means, prec, const, out[n])


@njit(**PARALLEL_JIT)
def jll_spherical(X, means, prec, const, bounds, out):
    n_components = means.shape[0]
    for c in prange(bounds.shape[0] - 1):
        sq = np.empty(n_components)
        for n in range(bounds[c], bounds[c + 1]):
            _row_jll_spherical(X[n], means, prec, const, sq, out[n])


@njit(**PARALLEL_JIT)
def jll_sparse(data, indices, indptr, const, prec_t, mp_t, bounds, out):
    for c in prange(bounds.shape[0] - 1):
        for n in range(bounds[c], bounds[c + 1]):
            _row_jll_sparse(data, indices, indptr[n], indptr[n + 1], const, prec_t, mp_t,
                            out[n])
