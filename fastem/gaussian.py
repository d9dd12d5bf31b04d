"""Gaussian mixture fitted by (MAP-)EM: a drop-in for
``sklearn.mixture.GaussianMixture`` running through fastem's one EM driver.

The maths is seed 004: π_k = N_k / N (eq. 7), μ_k = Σ γ x / N_k (eq. 14),
Σ_k = Σ γ (x - μ_k)(x - μ_k)ᵀ / N_k (eq. 20), the tied Σ = Σ_k Σ_n γ (x -
μ_k)(x - μ_k)ᵀ / N (eq. 26), and MAP-EM (eqs. 27-37 and 53-57): the E-step is
unchanged and the M-step maximises the expected complete-data log-likelihood
plus the log-prior.
"""
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.base import DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import EMMixin
from ._config import PARAM_DTYPE, threads
from ._kernels import csr as csr_kernels
from ._kernels import gaussian as kernels
from ._validation import check_fitted_width
from .mixture import (_check_n_components, _log_dirichlet_prior, _map_mixture_weights,
                      _resolve_weight_concentration)

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_LOG_2PI = np.log(2.0 * np.pi)
#: added to N_k as scikit-learn does, so that an empty component divides by a
#: tiny positive number instead of 0 (its mean and covariance stay finite)
_NK_EPS = 10 * np.finfo(PARAM_DTYPE).eps


def _singular_message(dtype=np.float64):
    message = ("Fitting the mixture model failed because some components have ill-defined "
               "empirical covariance (for instance caused by singleton or collapsed samples). "
               "Try to decrease the number of components, increase reg_covar, or scale the "
               "input data.")
    if dtype == np.float32:
        message += (" The numerical accuracy can also be improved by passing float64 data "
                    "instead of float32.")
    return message


# ----------------------------------------------------------------------------
# Cholesky factors of the precisions (scikit-learn's layout: precision = U Uᵀ,
# U upper triangular)
# ----------------------------------------------------------------------------

def _precision_cholesky(covariances, covariance_type, dtype=np.float64):
    """Upper-triangular U with ``U Uᵀ = Σ⁻¹`` (full: [K, d, d], tied: [d, d],
    diag: [K, d], spherical: [K]); ValueError naming reg_covar when a
    covariance is not positive definite."""
    if covariance_type in ("full", "tied"):
        covs = covariances[None] if covariance_type == "tied" else covariances
        out = np.empty_like(covs)
        eye = np.eye(covs.shape[-1])
        for k in range(covs.shape[0]):
            try:
                chol = linalg.cholesky(covs[k], lower=True)
            except linalg.LinAlgError:
                raise ValueError(_singular_message(dtype)) from None
            out[k] = linalg.solve_triangular(chol, eye, lower=True).T
        return out[0] if covariance_type == "tied" else out
    if np.any(~(covariances > 0.0)):
        raise ValueError(_singular_message(dtype))
    return 1.0 / np.sqrt(covariances)


def _precision_cholesky_from_precisions(precisions, covariance_type):
    if covariance_type in ("full", "tied"):
        precs = precisions[None] if covariance_type == "tied" else precisions
        out = np.empty_like(precs)
        d = precs.shape[-1]
        flip = np.arange(d)[::-1]
        for k in range(precs.shape[0]):
            # U upper with U Uᵀ = P: the lower Cholesky factor of P flipped
            lower = linalg.cholesky(precs[k][np.ix_(flip, flip)], lower=True)
            out[k] = lower[np.ix_(flip, flip)]
        return out[0] if covariance_type == "tied" else out
    return np.sqrt(precisions)


def _precisions_from_cholesky(prec_chol, covariance_type):
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", prec_chol, prec_chol)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


def _log_det_cholesky(prec_chol, covariance_type, n_features):
    """log det of the precision's Cholesky factor (per component, or a scalar for tied)."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return float(np.log(np.diag(prec_chol)).sum())
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


def _check_precision_matrix(precision, name):
    if not np.allclose(precision, precision.T) or np.any(linalg.eigvalsh(precision) <= 0.0):
        raise ValueError(f"'{name}' precision should be symmetric, positive-definite.")


# ----------------------------------------------------------------------------
# Statistics -> parameters (the M-step, NumPy on K x d x d arrays)
# ----------------------------------------------------------------------------

class _Stats:
    """Sufficient statistics of one E-step: ``nk`` [K], ``s1`` [K, d] and
    ``s2`` (full [K, d, d], diag/spherical [K, d], tied None) taken about the
    per-component ``shift`` [K, d]."""
    __slots__ = ("nk", "s1", "s2", "shift")

    def __init__(self, nk, s1, s2, shift):
        self.nk, self.s1, self.s2, self.shift = nk, s1, s2, shift


class _Data:
    """Validated input for the EM hooks: ``X`` (dense array or CSR), row chunks,
    and for 'tied' the centre and total scatter of X (fixed during a fit)."""

    def __init__(self, X, bounds, covariance_type):
        self.X = X
        self.bounds = bounds
        self.n_samples, self.n_features = X.shape
        self.sparse = sp.issparse(X)
        self.center = None
        self.scatter = None
        if covariance_type == "tied":
            self.center = np.asarray(X.mean(axis=0), dtype=PARAM_DTYPE).ravel()
            self.scatter = _total_scatter(X, self.center)


def _total_scatter(X, center, block=65536):
    """``Σ_n (x_n - c)(x_n - c)ᵀ`` in row blocks (no n_samples-sized copy)."""
    d = X.shape[1]
    out = np.zeros((d, d))
    for start in range(0, X.shape[0], block):
        diff = np.asarray(X[start:start + block], dtype=PARAM_DTYPE) - center
        out += diff.T @ diff
    return out


def _stats_from_resp(X, resp, want_full, bounds):
    """Statistics of a responsibility matrix (initialisation only), about the
    weighted means (dense) or 0 (sparse), in the kernels' layout:
    ``(nk, s1, s2, shift)``, ``s2`` the second moments: [K, d, d] when
    ``want_full``, else their diagonals [K, d] (sparse input is for 'diag'
    and 'spherical' only). Dense ones come from the loops of the EM passes
    (``moments_full`` / ``moments_diag``, over the row chunks ``bounds``; on
    200,000 x 32, K=16, full: 0.72 s in the NumPy blocks they replace, which
    visited every row for every component)."""
    nk = resp.sum(axis=0)
    if sp.issparse(X):
        s1 = np.asarray((X.T @ resp).T)
        s2 = np.asarray((X.multiply(X).T @ resp).T)
        return nk, s1, s2, np.zeros_like(s1)
    shift = (resp.T @ X) / (nk + _NK_EPS)[:, None]
    n_components, d = shift.shape
    resp = np.ascontiguousarray(resp, dtype=PARAM_DTYPE)
    s1 = np.empty((n_components, d))
    # (the kernels' nk is the one above, summed in their order: not used)
    if want_full:
        s2 = np.empty((n_components, d, d))
        kernels.moments_full(X, resp, shift, bounds, np.empty(n_components), s1, s2)
        return nk, s1, _symmetric_from_lower(s2), shift
    s2 = np.empty((n_components, d))
    kernels.moments_diag(X, resp, shift, bounds, np.empty(n_components), s1, s2)
    return nk, s1, s2, shift


def _symmetric_from_lower(s2):
    """[K, d, d] symmetric matrices from the lower triangles the kernels fill."""
    return np.tril(s2) + np.transpose(np.tril(s2, -1), (0, 2, 1))


def _int32_indexed(X):
    """``X`` for scikit-learn's KMeans, which takes sparse input with 32-bit
    indices only: a CSR with int64 indices that fit in 32 bits gets int32
    copies of them (the values are shared); anything else is returned as it
    is, and a CSR whose indices do not fit is refused."""
    if not sp.issparse(X) or X.indices.dtype == np.int32:
        return X
    if max(X.nnz, X.shape[1]) >= 2**31:
        raise ValueError(f"init_params='kmeans' uses scikit-learn's KMeans, which needs sparse "
                         f"input with 32-bit indices; this X has {X.nnz} stored entries and "
                         f"{X.shape[1]} columns. Use init_params='k-means++' or 'random'.")
    return sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
                         shape=X.shape)


# ----------------------------------------------------------------------------
# GaussianMixture
# ----------------------------------------------------------------------------


class GaussianMixture(DensityMixin, EMMixin):
    """Gaussian mixture fitted by EM (or MAP-EM), with Numba kernels.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: same parameters,
    defaults, fitted attributes and methods. Each EM iteration is one fused
    parallel pass over the rows (log-density through the Cholesky factor of
    each precision, log-sum-exp posterior, M-step sums per row chunk), with
    no n_samples × K × n_features temporary; the M-step itself works on
    K × d × d arrays. For ``covariance_type`` 'diag' and 'spherical', ``X``
    may be a sparse matrix: ``(x - μ)² / σ²`` is expanded into terms over
    the non-zeros plus one constant per component, and ``X`` is never
    densified.

    Beyond scikit-learn, optional priors turn EM into MAP-EM (seed 004):
    a Dirichlet prior on the weights, ``π_k = (N_k + α_k - 1) / (N + Σα - K)``,
    and a Normal–inverse-Wishart prior on means and covariances,
    ``μ_k | Σ_k ~ N(m₀, Σ_k / κ₀)`` and ``Σ_k ~ IW(Ψ₀, ν₀)``, whose joint
    posterior mode is (per component, ``S_k = Σ_n γ_nk (x_n - μ_k)(x_n - μ_k)ᵀ``)::

        μ_k = (Σ_n γ_nk x_n + κ₀ m₀) / (N_k + κ₀)
        Σ_k = (Ψ₀ + S_k + κ₀ (μ_k - m₀)(μ_k - m₀)ᵀ) / (N_k + c) + reg_covar I

    with ``c = (ν₀ + d + 1) [covariance prior] + 1 [mean prior]``. 'tied'
    sums the numerators over k and uses ``N + ν₀ + d + 1 + K``; 'diag' keeps
    the diagonal (the prior restricted to diagonal matrices); 'spherical'
    uses ``(d ψ₀ + tr S_k + κ₀‖μ_k - m₀‖²) / (d (N_k + c))``. With every prior
    left at None the fit is maximum likelihood, identical to scikit-learn.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        EM stops when the objective (per sample) changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the responsibilities that give the starting parameters are made,
        as in scikit-learn.
    weights_init, means_init, precisions_init : array-like, default=None
        Starting parameters (shapes as in scikit-learn).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
        Accepted for compatibility; the driver prints every iteration when
        ``verbose > 0``.
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration α >= 1 of the weights (None: 1, maximum
        likelihood). A MAP point estimate, not the variational prior of
        ``BayesianGaussianMixture``.
    mean_precision_prior : float, default=None
        κ₀ > 0 of the prior on the means (None: no prior on the means).
    mean_prior : array-like of shape (n_features,), default=None
        m₀; None means the mean of X.
    degrees_of_freedom_prior : float, default=None
        ν₀ > d - 1 of the inverse-Wishart prior. The covariance prior is
        active when this or ``covariance_prior`` is given; ν₀ then defaults
        to d.
    covariance_prior : float or array-like, default=None
        Ψ₀: [d, d] for 'full'/'tied', [d] for 'diag', a float for
        'spherical'; None means the covariance of X (its diagonal, or the
        mean variance), as in ``BayesianGaussianMixture``.
    n_jobs : int, default=None
        Threads for the kernels during fit and prediction.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As in scikit-learn.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Objective of the returned parameters: the mean log-likelihood of X
        (plus the log-prior / n_samples under MAP-EM).
    lower_bounds_ : ndarray of shape (n_iter_,)
        Objective after each iteration.
    n_features_in_ : int

    Notes
    -----
    Differences from scikit-learn in the reported numbers, not in the fitted
    parameters: fastem's driver records the objective *after* each M-step,
    evaluated by the E-step of the next pass, so ``lower_bound_`` is the mean
    log-likelihood of the returned model (``score(X)``) and
    ``lower_bounds_[i]`` that of the parameters after iteration ``i + 1``.
    scikit-learn records the log-likelihood of the E-step *before* each
    M-step, so its ``lower_bound_`` belongs to the parameters one M-step
    before the returned ones, and its ``lower_bounds_[i + 1]`` equals
    fastem's ``lower_bounds_[i]``. The same stopping rule ``|change| < tol``
    therefore fires one iteration earlier in fastem (it compares the last two
    parameter sets, scikit-learn the two before). With ``tol=0`` and the same
    ``max_iter`` both return the same parameters. For the same reason, with
    ``n_init > 1`` the two may keep different initialisations (each keeps the
    best by its own recorded objective).

    Parameters are float64 also for float32 ``X`` (scikit-learn keeps
    float32); the kernels read float32 rows and accumulate in float64.

    ``reg_covar`` is added after the (MAP) M-step, as in scikit-learn, so the
    M-step is the exact maximiser only for ``reg_covar=0``; the default 1e-6
    is a negligible departure.
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(_COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "weight_concentration_prior": [Real, "array-like", None],
        "mean_precision_prior": [Interval(Real, 0.0, None, closed="neither"), None],
        "mean_prior": ["array-like", None],
        "degrees_of_freedom_prior": [Real, None],
        "covariance_prior": [Real, "array-like", None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, weight_concentration_prior=None,
                 mean_precision_prior=None, mean_prior=None, degrees_of_freedom_prior=None,
                 covariance_prior=None, n_jobs=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ input
    def _validate_X(self, X, reset):
        sparse_ok = self.covariance_type in ("diag", "spherical")
        if sp.issparse(X) and not sparse_ok:
            raise TypeError(f"Sparse input is supported for covariance_type 'diag' and "
                            f"'spherical' only, got covariance_type={self.covariance_type!r}. "
                            "Densify X or use a diagonal covariance.")
        X = validate_data(self, X, reset=reset, accept_sparse="csr" if sparse_ok else False,
                          dtype=[np.float64, np.float32], order="C",
                          ensure_min_samples=2 if reset else 1)
        if sp.issparse(X):
            X = sp.csr_matrix(X)
            X.check_format(full_check=True)  # Numba does not check bounds
            if not X.has_canonical_format:
                # the kernels square each stored entry: duplicates must be one
                # entry first ((a + b)^2 is not a^2 + b^2); the caller's
                # arrays are left as they are
                X = X.copy()
                X.sum_duplicates()
        return X

    def _check_inits(self, n_features):
        K, d, ctype = self.n_components, n_features, self.covariance_type

        def as_array(value, name, shape):
            arr = np.array(value, dtype=PARAM_DTYPE)
            if arr.shape != shape:
                raise ValueError(f"The parameter '{name}' should have the shape of {shape}, "
                                 f"but got {arr.shape}.")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
            return arr

        weights = means = precisions = None
        if self.weights_init is not None:
            weights = as_array(self.weights_init, "weights", (K,))
            if np.any(weights < 0) or np.any(weights > 1) or not np.isclose(weights.sum(), 1.0):
                raise ValueError("The parameter 'weights' should be in the range [0, 1] and "
                                 f"sum to 1, but got {weights}.")
        if self.means_init is not None:
            means = as_array(self.means_init, "means", (K, d))
        if self.precisions_init is not None:
            shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[ctype]
            precisions = as_array(self.precisions_init, f"{ctype} precision", shape)
            if ctype == "full":
                for k in range(K):
                    _check_precision_matrix(precisions[k], "full")
            elif ctype == "tied":
                _check_precision_matrix(precisions, "tied")
            elif np.any(precisions <= 0.0):
                raise ValueError(f"'{ctype} precision' should be positive.")
        return weights, means, precisions

    def _resolve_priors(self, X):
        K, d, ctype = self.n_components, X.shape[1], self.covariance_type
        self._concentration = _resolve_weight_concentration(self.weight_concentration_prior, K)
        self._kappa = 0.0 if self.mean_precision_prior is None else float(self.mean_precision_prior)
        cov_active = self.covariance_prior is not None or self.degrees_of_freedom_prior is not None
        need_stats = self._kappa > 0 or cov_active
        if need_stats:
            x_mean = np.asarray(X.mean(axis=0), dtype=PARAM_DTYPE).ravel()
        if self._kappa > 0:
            m0 = x_mean if self.mean_prior is None else np.array(self.mean_prior, dtype=PARAM_DTYPE)
            if m0.shape != (d,) or not np.all(np.isfinite(m0)):
                raise ValueError(f"mean_prior must be finite with shape ({d},), "
                                 f"got shape {m0.shape}.")
            self._mean_prior = m0
        else:
            self._mean_prior = np.zeros(d)
        self._nu = None
        self._psi = None
        if cov_active:
            nu = self.degrees_of_freedom_prior
            nu = float(d if nu is None else nu)
            if not nu > d - 1:
                raise ValueError(f"degrees_of_freedom_prior must be > n_features - 1 = {d - 1}, "
                                 f"got {nu}.")
            self._nu = nu
            if self.covariance_prior is None:
                if sp.issparse(X):
                    n = X.shape[0]  # ddof=1, as np.cov on the dense path
                    var = (np.asarray(X.multiply(X).mean(axis=0)).ravel() - x_mean ** 2) * n / (n - 1)
                    psi = var if ctype == "diag" else float(var.mean())
                else:
                    full = np.atleast_2d(np.cov(np.asarray(X, dtype=PARAM_DTYPE).T))
                    psi = {"full": full, "tied": full, "diag": np.diag(full).copy(),
                           "spherical": float(np.diag(full).mean())}[ctype]
            else:
                shape = {"full": (d, d), "tied": (d, d), "diag": (d,), "spherical": ()}[ctype]
                psi = np.array(self.covariance_prior, dtype=PARAM_DTYPE)
                if psi.shape != shape:
                    raise ValueError(f"covariance_prior should have shape {shape} for "
                                     f"covariance_type={ctype!r}, got {psi.shape}.")
                if ctype in ("full", "tied"):
                    _check_precision_matrix(psi, "covariance_prior")
                elif np.any(psi <= 0):
                    raise ValueError("covariance_prior must be positive.")
            self._psi = np.asarray(psi, dtype=PARAM_DTYPE)

    # ------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Estimate the parameters by EM (``n_init`` starts, the best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or sparse for
            'diag' and 'spherical'.
        y : Ignored

        Returns
        -------
        self : GaussianMixture
        """
        self._validate_params()
        warm = self.warm_start and hasattr(self, "converged_")
        if warm:
            self._check_covariance_type()
        X = self._validate_X(X, reset=not warm)
        _check_n_components(self.n_components, X.shape[0])
        if warm and self.weights_.shape[0] != self.n_components:
            raise ValueError(f"warm_start=True needs the same n_components as the previous fit "
                             f"({self.weights_.shape[0]}), got {self.n_components}.")
        self._inits = self._check_inits(X.shape[1])
        self._resolve_priors(X)
        self._dtype = X.dtype
        with threads(self.n_jobs) as n_threads:
            bounds = (csr_kernels.chunk_bounds(X.indptr, n_threads) if sp.issparse(X)
                      else kernels.row_chunks(X.shape[0], n_threads))
            self._fit_em(_Data(X, bounds, self.covariance_type))
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the component of each row (``fit(X).predict(X)``)."""
        return self.fit(X).predict(X)

    # ------------------------------------------------------------ EM hooks
    def _has_latent(self, data):
        return True

    def _initialize(self, data, random_state):
        X = data.X
        n_samples, K = data.n_samples, self.n_components
        weights_init, means_init, precisions_init = self._inits
        resp = None
        if self.init_params == "kmeans":
            labels = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(
                _int32_indexed(X)).labels_
            resp = np.zeros((n_samples, K))
            resp[np.arange(n_samples), labels] = 1
        elif self.init_params == "random":
            resp = random_state.uniform(size=(n_samples, K))
            resp /= resp.sum(axis=1)[:, None]
        elif self.init_params == "random_from_data":
            resp = np.zeros((n_samples, K))
            resp[random_state.choice(n_samples, size=K, replace=False), np.arange(K)] = 1
        else:  # k-means++
            resp = np.zeros((n_samples, K))
            _, indices = kmeans_plusplus(X, K, random_state=random_state)
            resp[indices, np.arange(K)] = 1
        nk, s1, s2, shift = _stats_from_resp(X, resp, self.covariance_type == "full",
                                             data.bounds)
        self._m_step(data, _Stats(nk, s1, s2, shift))
        if self.covariance_type == "tied" and not np.allclose(resp.sum(axis=1), 1.0):
            # scikit-learn's tied estimate (X'X - Σ N_k μ_k μ_k') / Σ N_k assumes every
            # row's responsibilities sum to 1; its 'k-means++' and 'random_from_data'
            # starts give most rows none. Reproduce its starting covariance exactly.
            Xd = np.asarray(X, dtype=PARAM_DTYPE)
            nk_eps = nk + _NK_EPS
            cov = (Xd.T @ Xd - (nk_eps * self.means_.T) @ self.means_) / nk_eps.sum()
            cov.flat[::cov.shape[0] + 1] += self.reg_covar
            self.covariances_ = cov
            self.precisions_cholesky_ = _precision_cholesky(cov, "tied", self._dtype)
        if weights_init is not None:
            self.weights_ = weights_init.copy()
        if means_init is not None:
            self.means_ = means_init.copy()
        if precisions_init is not None:
            self.precisions_cholesky_ = _precision_cholesky_from_precisions(
                precisions_init, self.covariance_type)
            self.covariances_ = self._covariances_from_cholesky(self.precisions_cholesky_)
        self._set_precisions()

    def _set_precisions(self):
        """``precisions_`` from ``precisions_cholesky_``, and the covariance
        type both are of (``_check_covariance_type``)."""
        self.precisions_ = _precisions_from_cholesky(self.precisions_cholesky_,
                                                     self.covariance_type)
        self._fitted_covariance_type = self.covariance_type

    def _check_covariance_type(self):
        """Refuse fitted arrays of another covariance type than
        ``covariance_type`` (a ``set_params`` after the fit): the kernels
        would read them by the wrong shapes, without bounds checks."""
        fitted = getattr(self, "_fitted_covariance_type", self.covariance_type)
        if fitted != self.covariance_type:
            raise ValueError(f"covariance_type={self.covariance_type!r}, but the fitted "
                             f"parameters are {fitted!r}: set it back, or fit again "
                             "(without warm_start).")

    def _covariances_from_cholesky(self, prec_chol):
        ctype = self.covariance_type
        if ctype == "full":
            return np.array([np.linalg.inv(u @ u.T) for u in prec_chol])
        if ctype == "tied":
            return np.linalg.inv(prec_chol @ prec_chol.T)
        return 1.0 / prec_chol ** 2

    def _log_const(self):
        """Row-independent part of log π_k + log N(x | k), shape [K]."""
        d = self.means_.shape[1]
        with np.errstate(divide="ignore"):
            log_weights = np.log(self.weights_)
        log_det = _log_det_cholesky(self.precisions_cholesky_, self.covariance_type, d)
        return np.ascontiguousarray(log_weights - 0.5 * d * _LOG_2PI + log_det)

    def _sparse_tables(self):
        prec = self._diag_precision()
        const = self._log_const() - 0.5 * (self.means_ ** 2 * prec).sum(axis=1)
        return (np.ascontiguousarray(const), np.ascontiguousarray(prec.T),
                np.ascontiguousarray((self.means_ * prec).T))

    def _diag_precision(self):
        prec = self.precisions_cholesky_ ** 2
        if self.covariance_type == "spherical":
            prec = np.repeat(prec[:, None], self.means_.shape[1], axis=1)
        return np.ascontiguousarray(prec)

    def _e_step(self, data):
        X = data.X
        K, d = self.means_.shape
        nk = np.empty(K)
        means = np.ascontiguousarray(self.means_)
        const = self._log_const()
        ctype = self.covariance_type
        if data.sparse:
            s1 = np.empty((d, K))
            s2 = np.empty((d, K))
            ll = kernels.em_pass_sparse(X.data, X.indices, X.indptr, *self._sparse_tables(),
                                        data.bounds, nk, s1, s2)
            return ll, _Stats(nk, s1.T, s2.T, np.zeros((K, d)))
        s1 = np.empty((K, d))
        if ctype == "full":
            s2 = np.empty((K, d, d))
            ll = kernels.em_pass_full(X, means, np.ascontiguousarray(self.precisions_cholesky_),
                                      const, data.bounds, nk, s1, s2)
            s2 = _symmetric_from_lower(s2)
        elif ctype == "tied":
            u = np.ascontiguousarray(self.precisions_cholesky_)
            s2 = None
            ll = kernels.em_pass_tied(X, means, np.ascontiguousarray(means @ u), u, const,
                                      data.bounds, nk, s1)
        elif ctype == "spherical":
            s2 = np.empty(K)
            prec = np.ascontiguousarray(self.precisions_cholesky_ ** 2)
            ll = kernels.em_pass_spherical(X, means, prec, const, data.bounds, nk, s1, s2)
            s1 -= nk[:, None] * means  # the kernel returns Σγx unshifted
        else:
            s2 = np.empty((K, d))
            ll = kernels.em_pass_diag(X, means, self._diag_precision(), const, data.bounds,
                                      nk, s1, s2)
        return ll, _Stats(nk, s1, s2, means)

    def _m_step(self, data, stats):
        nk_raw, s1, s2, shift = stats.nk, stats.s1, stats.s2, stats.shift
        ctype = self.covariance_type
        K, d = s1.shape
        nk = nk_raw + _NK_EPS
        kappa, m0 = self._kappa, self._mean_prior
        # means: (Σγx + κ m0) / (N_k + κ), with Σγx = s1 + N_k shift
        offset = s1 / nk[:, None]
        if kappa > 0:
            means = (s1 + nk_raw[:, None] * shift + kappa * m0) / (nk + kappa)[:, None]
            offset = means - shift
        else:
            means = shift + offset
        # scatter about the new means: Σγ(x - μ)(x - μ)ᵀ = s2 - s1 eᵀ - e s1ᵀ + N_k e eᵀ
        e = offset
        cov_prior = self._psi is not None
        c = (self._nu + d + 1.0 if cov_prior else 0.0)
        delta = means - m0
        if ctype == "full":
            scatter = (s2 - np.einsum("ki,kj->kij", s1, e) - np.einsum("ki,kj->kij", e, s1)
                       + nk_raw[:, None, None] * np.einsum("ki,kj->kij", e, e))
            numer = scatter
            denom = nk.copy()
            if kappa > 0:
                numer = numer + kappa * np.einsum("ki,kj->kij", delta, delta)
                denom = denom + 1.0
            if cov_prior:
                numer = numer + self._psi
                denom = denom + c
            cov = numer / denom[:, None, None]
            cov[:, np.arange(d), np.arange(d)] += self.reg_covar
        elif ctype == "tied":
            centered = s1 + nk_raw[:, None] * (shift - data.center)
            e_c = means - data.center
            scatter = (data.scatter - centered.T @ e_c - e_c.T @ centered
                       + (nk_raw[:, None] * e_c).T @ e_c)
            numer = scatter
            denom = nk.sum()
            if kappa > 0:
                numer = numer + kappa * delta.T @ delta
                denom += K
            if cov_prior:
                numer = numer + self._psi
                denom += c
            cov = numer / denom
            cov.flat[::d + 1] += self.reg_covar
        else:
            scatter = s2 - 2.0 * s1 * e + nk_raw[:, None] * e * e if s2.ndim == 2 else None
            denom = nk + (1.0 if kappa > 0 else 0.0) + c
            if ctype == "diag":
                numer = scatter + kappa * delta ** 2
                if cov_prior:
                    numer = numer + self._psi
                cov = numer / denom[:, None] + self.reg_covar
            else:
                if scatter is None:  # dense spherical pass: s2 already summed over features
                    total = s2 - (2.0 * s1 * e - nk_raw[:, None] * e * e).sum(axis=1)
                else:
                    total = scatter.sum(axis=1)
                numer = total + kappa * (delta ** 2).sum(axis=1)
                if cov_prior:
                    numer = numer + d * self._psi
                cov = numer / (d * denom) + self.reg_covar
        self.weights_ = _map_mixture_weights(nk, self._concentration)
        self.means_ = means
        self.covariances_ = cov
        self.precisions_cholesky_ = _precision_cholesky(cov, ctype, self._dtype)
        self._set_precisions()

    def _log_param_prior(self):
        prior = _log_dirichlet_prior(self.weights_, self._concentration)
        kappa, cov_prior = self._kappa, self._psi is not None
        if kappa == 0 and not cov_prior:
            return prior
        ctype = self.covariance_type
        K, d = self.means_.shape
        u = self.precisions_cholesky_
        log_det_u = _log_det_cholesky(u, ctype, d)  # = -½ log|Σ| per component
        delta = self.means_ - self._mean_prior
        prec = self.precisions_
        if kappa > 0:
            if ctype == "full":
                quad = (np.einsum("ki,kij->kj", delta, u) ** 2).sum()
            elif ctype == "tied":
                quad = ((delta @ u) ** 2).sum()
            elif ctype == "diag":
                quad = (delta ** 2 * prec).sum()
            else:
                quad = ((delta ** 2).sum(axis=1) * prec).sum()
            prior += -0.5 * kappa * quad + (K * log_det_u if ctype == "tied"
                                            else float(np.sum(log_det_u)))
        if cov_prior:
            coef = self._nu + d + 1.0
            if ctype in ("full", "tied"):
                trace = float(np.sum(prec * self._psi))
            elif ctype == "diag":
                trace = float(np.sum(prec * self._psi))
            else:
                trace = float(np.sum(prec * d * self._psi))
            prior += coef * float(np.sum(log_det_u)) - 0.5 * trace
        return float(prior)

    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self._set_precisions()

    # ------------------------------------------------------------ prediction
    def _estimate_weighted_log_prob(self, X):
        check_is_fitted(self, "weights_")
        self._check_covariance_type()
        X = self._validate_X(X, reset=False)
        # the kernels index the fitted tables without bounds checks: read K
        # and d from them, not from parameters that may have changed since
        # (set_params) or from a refit that failed after validating X
        K, d = self.means_.shape
        check_fitted_width(X.shape[1], d)
        n = X.shape[0]
        out = np.empty((n, K))
        const = self._log_const()
        means = np.ascontiguousarray(self.means_)
        ctype = self.covariance_type
        with threads(self.n_jobs) as n_threads:
            if sp.issparse(X):
                kernels.jll_sparse(X.data, X.indices, X.indptr, *self._sparse_tables(),
                                   csr_kernels.chunk_bounds(X.indptr, n_threads), out)
                return out
            bounds = kernels.row_chunks(n, n_threads)
            u = np.ascontiguousarray(self.precisions_cholesky_)
            if ctype == "full":
                kernels.jll_full(X, means, u, const, bounds, out)
            elif ctype == "tied":
                kernels.jll_tied(X, np.ascontiguousarray(means @ u), u, const, bounds, out)
            elif ctype == "spherical":
                kernels.jll_spherical(X, means, np.ascontiguousarray(u ** 2), const, bounds, out)
            else:
                kernels.jll_diag(X, means, self._diag_precision(), const, bounds, out)
        return out

    def _posterior(self, X):
        jll = self._estimate_weighted_log_prob(X)
        log_norm = np.empty(jll.shape[0])
        csr_kernels.log_posterior(jll, jll, log_norm)
        return jll, log_norm

    def predict(self, X):
        """Component of each row, shape (n_samples,)."""
        return np.argmax(self._estimate_weighted_log_prob(X), axis=1)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_components)."""
        return self._posterior(X)[0]

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of each row."""
        return self._posterior(X)[1]

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X."""
        return float(np.mean(self.score_samples(X)))

    def _n_parameters(self):  # (bic and aic call score first, which checks the type)
        K, d = self.means_.shape
        cov_params = {"full": K * d * (d + 1) / 2.0, "diag": K * d,
                      "tied": d * (d + 1) / 2.0, "spherical": K}[self.covariance_type]
        return int(cov_params + d * K + K - 1)

    def bic(self, X):
        """Bayesian information criterion (lower is better)."""
        n = X.shape[0]
        return float(-2 * self.score(X) * n + self._n_parameters() * np.log(n))

    def aic(self, X):
        """Akaike information criterion (lower is better)."""
        return float(-2 * self.score(X) * X.shape[0] + 2 * self._n_parameters())

    def sample(self, n_samples=1):
        """Draw ``n_samples`` rows; returns ``(X, y)`` with rows grouped by component."""
        check_is_fitted(self, "weights_")
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        self._check_covariance_type()
        rng = check_random_state(self.random_state)
        K, d = self.means_.shape
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        ctype = self.covariance_type
        parts = []
        for k, (mean, count) in enumerate(zip(self.means_, counts)):
            if ctype == "full":
                parts.append(rng.multivariate_normal(mean, self.covariances_[k], count))
            elif ctype == "tied":
                parts.append(rng.multivariate_normal(mean, self.covariances_, count))
            else:
                parts.append(mean + rng.standard_normal((count, d))
                             * np.sqrt(self.covariances_[k]))
        X = np.vstack(parts)
        y = np.repeat(np.arange(K), counts)
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.covariance_type in ("diag", "spherical")
        return tags
