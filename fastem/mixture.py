"""Mixture models fitted by EM on sparse data.

Each estimator here is self-contained and fills the hooks of the one EM driver
(:class:`fastem._base.EMMixin`). Helpers that any mixture can use (the number
of components, the Dirichlet prior on the mixture weights) are the private
functions in the first section below; helpers specific to one model carry its
name.
"""
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import EMMixin, assignment_counts, expected_counts, make_em_data, predict_arrays
from ._config import PARAM_DTYPE, threads
from ._kernels.bernoulli import bernoulli_means, bernoulli_tables
from ._multinomial import (DocumentSeeds, Vocabulary, fitting_on, kl_kmeans_plusplus,
                           multinomial_log_prob)
from ._validation import CSR, check_csr, check_param_dtype
from .datasets import sample_word_counts


# ----------------------------------------------------------------------------
# Helpers shared by mixtures: number of components, Dirichlet prior on weights
# ----------------------------------------------------------------------------

def _check_n_components(n_components, n_samples):
    if n_components > n_samples:
        raise ValueError(f"n_components={n_components} must be <= n_samples={n_samples}: each "
                         "component needs at least one row to start from. Use fewer components "
                         "or more rows.")


def _resolve_weight_concentration(prior, n_components):
    """Dirichlet concentration α of the mixture weights as a float64 array [K].

    ``None`` means 1 for every component (a flat prior: maximum likelihood).
    Values below 1 are rejected: the MAP weight ``(N_k + α_k - 1) / (N + Σα - K)``
    can then be negative, and the Dirichlet density is unbounded at the border
    of the simplex, so the MAP estimate does not exist.
    """
    if prior is None:
        return np.ones(n_components, dtype=PARAM_DTYPE)
    try:
        alpha = np.asarray(prior, dtype=PARAM_DTYPE)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weight_concentration_prior must be a number or one number per "
                         f"component, got {prior!r}.") from exc
    if alpha.ndim == 0:
        alpha = np.full(n_components, float(alpha), dtype=PARAM_DTYPE)
    if alpha.shape != (n_components,):
        raise ValueError(f"weight_concentration_prior has shape {alpha.shape}, expected a scalar "
                         f"or shape ({n_components},) (one value per component).")
    if not np.all(np.isfinite(alpha)) or np.any(alpha < 1):
        raise ValueError(f"weight_concentration_prior must be >= 1 (and finite), got {prior!r}: "
                         "below 1 the MAP mixture weights (N_k + alpha_k - 1) / (N + sum(alpha) - K) "
                         "can be negative and the posterior has no maximum. Use 1 (or None) for "
                         "maximum likelihood, > 1 to pull the weights towards each other.")
    return alpha


def _map_mixture_weights(class_counts, concentration):
    """MAP mixture weights under Dirichlet(α): ``(N_k + α_k - 1) / (N + Σα - K)``
    (seed 004 eq. 57; α = 1 gives the ML weights ``N_k / N``).

    The denominator is computed as the sum of the numerators, which equals
    ``N + Σα - K`` and makes the weights sum to 1 up to rounding.
    """
    numerator = class_counts + (concentration - 1.0)
    return numerator / numerator.sum()


def _log_dirichlet_prior(weights, concentration):
    """``Σ_k (α_k - 1) log π_k``: the Dirichlet log-density without its constant.

    Components with α_k = 1 contribute exactly 0 (even an empty one, whose
    π_k = 0 would otherwise give 0 × -inf); with α_k > 1, π_k > 0 always.
    """
    active = concentration != 1.0
    if not np.any(active):
        return 0.0
    return float(np.sum((concentration[active] - 1.0) * np.log(weights[active])))


class _CSRMixtureMixin(DensityMixin, EMMixin):
    """What the mixtures share beyond the EM driver: the start of ``fit``,
    prediction and the information criteria, all through the CSR kernels.

    A model provides ``_validated_rows(X)`` (a validated CSR the kernels read
    for prediction), ``_kernel_tables()`` (``log_prior`` [K] and ``log_prob``
    [n_features, K] such that ``jll = log_prior + X @ log_prob``) and
    ``_n_parameters()``.
    """

    def _check_fit_params(self):
        """Checks of the model's own parameters that ``_validate_params``
        cannot make; run by ``_start_fit`` before it changes any attribute."""

    def _start_fit(self, X):
        """Validate parameters and ``X`` for a fit; returns ``(X, warm)``.
        Nothing is set on the model until every check has passed (a model
        whose refit was refused keeps its previous state)."""
        self._validate_params()
        warm = self.warm_start and hasattr(self, "converged_")
        # a fresh fit may change n_features; a warm one may not
        X = check_csr(X, estimator=self, n_features=self.n_features_in_ if warm else None)
        _check_n_components(self.n_components, X.shape[0])
        if warm and self.weights_.shape[0] != self.n_components:
            raise ValueError(f"warm_start=True needs the same n_components as the previous fit "
                             f"({self.weights_.shape[0]}), got {self.n_components}.")
        concentration = _resolve_weight_concentration(self.weight_concentration_prior,
                                                      self.n_components)
        self._check_fit_params()
        self._concentration = concentration
        self.n_features_in_ = X.shape[1]
        return X, warm

    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each row (the same
        as ``fit(X).predict(X)``)."""
        return self.fit(X).predict(X)

    def _predict_arrays(self, X, need_posterior):
        check_is_fitted(self, "weights_")
        X = self._validated_rows(X)
        with threads(self.n_jobs):
            return predict_arrays(X, *self._kernel_tables(), need_posterior)

    def predict(self, X):
        """Most probable component of each row, shape (n_samples,)."""
        return np.argmax(self._predict_arrays(X, need_posterior=False)[0], axis=1)

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_components)."""
        return self._predict_arrays(X, need_posterior=True)[1]

    def score_samples(self, X):
        """Log-likelihood ``log p(x) = logsumexp_k(log π_k + log p(x | k))`` of each row."""
        return self._predict_arrays(X, need_posterior=True)[2]

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over the rows of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X):
        """Bayesian information criterion, ``-2 log L + p log n`` (lower is better),
        with ``log L = sum(score_samples(X))`` and ``p`` free parameters."""
        log_px = self.score_samples(X)
        return float(-2.0 * log_px.sum() + self._n_parameters() * np.log(log_px.shape[0]))

    def aic(self, X):
        """Akaike information criterion, ``-2 log L + 2p`` (lower is better)."""
        return float(-2.0 * self.score_samples(X).sum() + 2.0 * self._n_parameters())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        return tags


# ----------------------------------------------------------------------------
# Bernoulli mixture helpers
# ----------------------------------------------------------------------------

#: Bernoulli means are kept in [MEAN_EPS, 1 - MEAN_EPS] so that log(μ) and
#: log(1 - μ) are finite (log(1e-10) ≈ -23).
MEAN_EPS = 1e-10

#: sample() draws uniforms in blocks of at most this many values
_SAMPLE_BLOCK = 1 << 20


def _is_canonical(indices, indptr):
    """True when the column indices of every row are strictly increasing
    (sorted, no duplicates); vectorised, O(nnz)."""
    nnz = indices.shape[0]
    if nnz < 2:
        return True
    increasing = indices[1:] > indices[:-1]
    starts = np.asarray(indptr[1:-1], dtype=np.int64)
    starts = starts[(starts > 0) & (starts < nnz)]
    increasing[starts - 1] = True  # a row boundary, not a pair inside one row
    return bool(increasing.all())


def _binarize_csr(X):
    """Presence/absence copy of a validated :class:`CSR`.

    ``data`` becomes 1 where the entry is non-zero and 0 where a zero is
    stored. Duplicate entries of one (row, column) are merged first (their
    values are >= 0, so the merged entry is present when any of them is), so
    every present feature of a row counts exactly once. When the indices are
    already canonical only an nnz-sized array of ones is allocated and
    ``indices``/``indptr`` are shared; otherwise a canonical copy is made
    with SciPy (the caller's arrays are never modified).
    """
    data, indices, indptr, shape = X
    present = (data != 0).astype(data.dtype)
    if _is_canonical(indices, indptr):
        return CSR(present, indices, indptr, shape)
    merged = sp.csr_matrix((present, indices.copy(), indptr.copy()), shape=shape)
    merged.sum_duplicates()
    merged.eliminate_zeros()
    return CSR(np.ones(merged.nnz, dtype=data.dtype),
               merged.indices.astype(indices.dtype, copy=False),
               merged.indptr.astype(indptr.dtype, copy=False), shape)


def _bernoulli_tables(mean):
    """Kernel tables of the Bernoulli means ``mean`` [n_features, K] (in (0, 1)).

    Returns ``log_odds`` [n_features, K] C-contiguous, ``log(μ) - log(1 - μ)``;
    ``log_complement`` [K], ``Σ_i log(1 - μ_ki)``; and the totals
    ``Σ_ki log μ_ki`` and ``Σ_ki log(1 - μ_ki)`` used by the Beta prior. Then
    ``log p(x | k) = log_complement[k] + Σ_{i: x_i ≠ 0} log_odds[i, k]``
    (one parallel pass: ``fastem._kernels.bernoulli.bernoulli_tables``).
    """
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    log_odds = np.empty_like(mean)
    log_complement, sum_log_mean = bernoulli_tables(mean, log_odds)
    return log_odds, log_complement, float(sum_log_mean), float(log_complement.sum())


def _bernoulli_log_prior(log_weights, log_complement):
    """Per-component constant of the joint log-likelihood:
    ``log π_k + Σ_i log(1 - μ_ki)`` (the value of an empty row)."""
    return np.ascontiguousarray(log_weights + log_complement)


def _bernoulli_m_step(counts, class_counts, a, b, concentration, eps=MEAN_EPS,
                      overwrite=False):
    """MAP M-step of a Bernoulli mixture (seed 004 eqs. 51 and 57).

    ``counts`` [n_features, K] holds ``Σ_n γ_nk x_ni`` and ``class_counts`` [K]
    holds ``N_k = Σ_n γ_nk``. Returns the weights [K] and the means
    [n_features, K]:

    ``μ_ki = (Σ_n γ_nk x_ni + a - 1) / (N_k + a + b - 2)``, clipped to
    ``[eps, 1 - eps]``; ``π_k = (N_k + α_k - 1) / (N + Σα - K)``.

    Clipping keeps the update a maximiser: for fixed k, i the expected
    complete-data log posterior ``(S + a - 1) log μ + (N_k - S + b - 1) log(1 - μ)``
    is concave in μ (for a, b >= 1), so its maximum over ``[eps, 1 - eps]`` is
    the clipped unconstrained maximum. A component with ``N_k + a + b - 2 = 0``
    (empty under maximum likelihood) has a flat objective in μ; its means are
    set to 0.5.

    One parallel kernel (``fastem._kernels.bernoulli.bernoulli_means``); with
    ``overwrite``, a C-contiguous float64 ``counts`` becomes the means.
    """
    source = np.ascontiguousarray(counts, dtype=np.float64)
    mean = source if overwrite or source is not counts else np.empty_like(source)
    bernoulli_means(source, np.asarray(class_counts, dtype=np.float64), float(a), float(b),
                    float(eps), mean)
    return _map_mixture_weights(class_counts, concentration), mean


# ----------------------------------------------------------------------------
# BernoulliMixture
# ----------------------------------------------------------------------------

class BernoulliMixture(_CSRMixtureMixin):
    """Mixture of multivariate Bernoulli distributions, fitted by (MAP-)EM.

    A model of presence/absence data: row ``x`` (binary, ``n_features`` long)
    comes from component ``k`` with probability ``π_k``, and then each feature
    ``i`` is present independently with probability ``μ_ki``. Any non-zero
    entry of ``X`` counts as present (a count of 3 is 1); absent entries and
    explicitly stored zeros count as absent. ``X`` is never densified: the
    log-likelihood of a row visits only its non-zeros,

    ``log p(x | k) = Σ_i log(1 - μ_ki) + Σ_{i: x_i ≠ 0} [log μ_ki - log(1 - μ_ki)]``,

    with the first sum computed once per component, so an EM iteration is one
    fused parallel pass over the non-zeros (the multinomial kernel of
    ``fastem._kernels.csr`` applied to the presence pattern).

    With priors ``μ_ki ~ Beta(a, b)`` and ``π ~ Dirichlet(α)`` (seed 004 §3)
    EM maximises the posterior; the M-step is (eqs. 51 and 57)

    ``μ_ki = (Σ_n γ_nk x_ni + a - 1) / (N_k + a + b - 2)``,
    ``π_k = (N_k + α_k - 1) / (N + Σ_k α_k - K)``,

    where ``γ_nk`` are the responsibilities and ``N_k = Σ_n γ_nk``.
    ``a = b = 1`` and ``α = 1`` (the defaults) give maximum likelihood.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K (at most the number of rows).
    beta_prior : tuple (a, b) of float, default=(1.0, 1.0)
        Parameters of the Beta prior on every ``μ_ki``, both >= 1. ``a - 1``
        acts as pseudo-presences and ``b - 1`` as pseudo-absences added to
        each component (``(2, 2)`` is Laplace smoothing). ``(1, 1)`` is a flat
        prior: maximum likelihood.
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration α of the mixture weights, >= 1 (one value for
        all components or one per component). ``None`` means 1: maximum
        likelihood. (Unlike ``BayesianGaussianMixture``, this is a MAP point
        estimate, and ``None`` is not ``1 / n_components``.)
    tol : float, default=1e-4
        Convergence threshold on the change of the objective (per sample).
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest objective is kept.
    init_params : {'random', 'random_from_data'}, default='random_from_data'
        Starting point. ``'random_from_data'``: K distinct random rows are the
        initial means, smoothed away from 0 and 1 by averaging with the
        feature frequencies, ``μ_k = (x_r + p) / 2`` with
        ``p_i = (#rows with feature i + 1) / (n_samples + 2)``, and equal
        weights. ``'random'``: every row is assigned to a random component
        (each component receives at least one row), then an M-step.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisations and for :meth:`sample`.
    warm_start : bool, default=False
        If True, a second ``fit`` starts from the fitted parameters (and
        ``n_init`` is ignored).
    n_jobs : int, default=None
        Number of threads for the kernels during ``fit`` and prediction
        (``-1`` = all of Numba's threads, ``None`` = Numba's current setting);
        the previous setting is restored afterwards.
    verbose : int, default=0
        Print the objective at every iteration when > 0.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights π.
    means_ : ndarray of shape (n_components, n_features)
        Presence probabilities μ, in ``[MEAN_EPS, 1 - MEAN_EPS]`` (see
        Notes). A transposed view of the internal [n_features, K] array.
    converged_ : bool
        Whether the kept initialisation converged (``|change| < tol``).
    n_iter_ : int
        Number of EM iterations of the kept initialisation.
    lower_bound_ : float
        The MAP objective of the fitted model, per sample:
        ``[Σ_n log p(x_n) + Σ_ki ((a - 1) log μ_ki + (b - 1) log(1 - μ_ki))
        + Σ_k (α_k - 1) log π_k] / n_samples`` (the log prior densities up to
        their constants). EM never decreases it.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The objective after each iteration.
    n_features_in_ : int

    Notes
    -----
    Clipping: a maximum-likelihood M-step gives ``μ_ki = 0`` or ``1`` for a
    feature absent from (or present in) every row of a component, and 0/0 for
    an empty component. The means are therefore clipped to
    ``[MEAN_EPS, 1 - MEAN_EPS]`` with ``MEAN_EPS = 1e-10``, so that no
    ``log 0`` appears; an empty component (``N_k + a + b - 2 = 0``) gets
    ``μ = 0.5`` and, with α_k = 1, weight 0 (it then stays empty). This is EM
    over the box ``[MEAN_EPS, 1 - MEAN_EPS]``: the expected complete-data log
    posterior is concave in each ``μ_ki``, so the clipped value is its exact
    maximiser over the box and the objective still never decreases. With
    ``a, b > 1`` the MAP means lie strictly inside (0, 1) and clipping only
    acts in the extreme case ``(a - 1) / (N_k + a + b - 2) < 1e-10``.

    Duplicate entries of one (row, column) in a CSR input are merged (present
    if any of them is non-zero). The fit costs one pass over the non-zeros per
    iteration plus O(n_features × K) for the M-step; nothing of size
    n_samples × n_features is allocated, and nothing of size n_samples × K
    during ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BernoulliMixture
    >>> rng = np.random.RandomState(0)
    >>> means = np.array([[0.9] * 5 + [0.1] * 5, [0.1] * 5 + [0.9] * 5])
    >>> z = rng.randint(2, size=300)
    >>> X = (rng.rand(300, 10) < means[z]).astype(float)
    >>> model = BernoulliMixture(n_components=2, n_init=2, random_state=0).fit(X)
    >>> np.sort(model.means_[:, 0]).round(1)
    array([0.1, 0.9])
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "beta_prior": ["array-like"],
        # the range (>= 1) is checked in fit, with a message that says why
        "weight_concentration_prior": [Real, "array-like", None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"random", "random_from_data"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=1, *, beta_prior=(1.0, 1.0), weight_concentration_prior=None,
                 tol=1e-4, max_iter=100, n_init=1, init_params="random_from_data",
                 random_state=None, warm_start=False, n_jobs=None, verbose=0):
        self.n_components = n_components
        self.beta_prior = beta_prior
        self.weight_concentration_prior = weight_concentration_prior
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _check_fit_params(self):
        self._beta = self._check_beta_prior()

    def _check_beta_prior(self):
        try:
            prior = np.asarray(self.beta_prior, dtype=np.float64)
        except (TypeError, ValueError):
            prior = None
        if prior is None or prior.shape != (2,):
            raise ValueError(f"beta_prior must be a pair (a, b), got {self.beta_prior!r}.")
        if not np.all(np.isfinite(prior)) or np.any(prior < 1):
            raise ValueError(f"beta_prior=(a, b) must have a >= 1 and b >= 1 (and finite), got "
                             f"{self.beta_prior!r}: below 1 the MAP mean (S + a - 1) / "
                             "(N_k + a + b - 2) can leave [0, 1] and the Beta density is "
                             "unbounded at 0 or 1, so the posterior has no maximum. Use (1, 1) "
                             "for maximum likelihood, (2, 2) for Laplace smoothing.")
        return float(prior[0]), float(prior[1])

    def fit(self, X, y=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data; any non-zero entry counts as present.
        y : Ignored

        Returns
        -------
        self : BernoulliMixture
        """
        X, _ = self._start_fit(X)
        with threads(self.n_jobs) as n_threads:
            self._fit_em(make_em_data(_binarize_csr(X), self.n_components, n_threads))
        return self


    # ------------------------------------------------------------ EM hooks
    def _has_latent(self, data):
        return True

    def _initialize(self, data, random_state):
        n_samples, n_features = data.X.shape
        n_components = self.n_components
        if self.init_params == "random":
            labels = random_state.randint(n_components, size=n_samples).astype(np.int64)
            # every component starts with at least one row
            labels[random_state.permutation(n_samples)[:n_components]] = np.arange(n_components)
            self._m_step(data, assignment_counts(data, labels, n_components))
            return
        # random_from_data
        Xb = data.X
        frequency = (np.bincount(Xb.indices, weights=Xb.data, minlength=n_features) + 1.0) \
            / (n_samples + 2.0)
        mean = np.tile(0.5 * frequency[:, None], (1, n_components))
        for k, row in enumerate(random_state.choice(n_samples, size=n_components, replace=False)):
            start, end = Xb.indptr[row], Xb.indptr[row + 1]
            present = Xb.indices[start:end][Xb.data[start:end] != 0]
            mean[present, k] += 0.5
        self._set_parameters((np.full(n_components, 1.0 / n_components), mean))

    def _e_step(self, data):
        # on presence data (ones where X is non-zero) the multinomial pass
        # log_prior[k] + sum_p data[p] log_odds[w_p, k] is exactly the
        # Bernoulli log pi_k + log p(x | k), and its scatter-add gives the
        # presence counts sum_n gamma_nk x_ni
        return expected_counts(data, *self._kernel_tables())

    def _m_step(self, data, stats):
        a, b = self._beta
        # (the pass's counts are fresh each iteration: the means take their place)
        self._set_parameters(_bernoulli_m_step(*stats, a, b, self._concentration,
                                               overwrite=True))

    def _log_param_prior(self):
        a, b = self._beta
        value = _log_dirichlet_prior(self.weights_, self._concentration)
        if a != 1.0:
            value += (a - 1.0) * self._sum_log_mean
        if b != 1.0:
            value += (b - 1.0) * self._sum_log_one_minus
        return value

    def _get_parameters(self):
        return self.weights_, self._mean

    def _set_parameters(self, params):
        weights, mean = params
        self.weights_ = weights
        self._mean = mean
        with np.errstate(divide="ignore"):  # an empty component under ML has weight 0
            self._log_weights = np.log(weights)
        (self._log_odds, self._log_complement,
         self._sum_log_mean, self._sum_log_one_minus) = _bernoulli_tables(mean)

    # ------------------------------------------------------------ attributes
    @property
    def means_(self):
        return self._mean.T

    # ------------------------------------------------------------ prediction
    def _validated_rows(self, X):
        return _binarize_csr(check_csr(X, n_features=self.n_features_in_, estimator=self))

    def _kernel_tables(self):
        return _bernoulli_log_prior(self._log_weights, self._log_complement), self._log_odds

    def _n_parameters(self):
        n_components = self.weights_.shape[0]
        return n_components * self.n_features_in_ + n_components - 1

    def sample(self, n_samples=1):
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
            Binary rows (float64 ones where present), grouped by component as
            in ``GaussianMixture.sample``.
        y : ndarray of shape (n_samples,)
            Component of each row.

        Uses ``random_state`` (so an integer seed gives the same sample every
        call). Costs O(n_samples × n_features) random draws, made in blocks of
        about a million so memory stays bounded.
        """
        check_is_fitted(self, "weights_")
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires "
                             "at least one sample.")
        rng = check_random_state(self.random_state)
        n_features, n_components = self._mean.shape
        per_component = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        rows_per_block = max(1, _SAMPLE_BLOCK // n_features)
        blocks = []
        for k in range(n_components):
            mean = self._mean[:, k]
            for start in range(0, per_component[k], rows_per_block):
                size = min(rows_per_block, per_component[k] - start)
                blocks.append(sp.csr_matrix(rng.random_sample((size, n_features)) < mean,
                                            dtype=np.float64))
        X = sp.vstack(blocks, format="csr")
        return X, np.repeat(np.arange(n_components), per_component)


# ----------------------------------------------------------------------------
# MultinomialMixture
# ----------------------------------------------------------------------------

#: Weight of the document in a centre made from one document (the rest is the
#: smoothed corpus distribution); see ``fastem._multinomial.DocumentSeeds``.
_SEED_SMOOTHING = 0.5


class MultinomialMixture(_CSRMixtureMixin):
    """Mixture of multinomials (document clustering) fitted by EM.

    Each row ``x`` (word counts of a document) is drawn from one of
    ``n_components`` components: ``p(x) ∝ sum_k π_k prod_w μ_kw ** x_w``
    (seed 001 problem 4, seed 003 §1.2). EM alternates the posterior of each
    row's component (E-step) with re-estimating ``π`` and ``μ`` from expected
    counts (M-step); both are one fused pass over the non-zeros of a CSR
    matrix, parallel over rows, so ``X`` is never densified.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components (clusters).
    alpha : float, default=1.0
        Additive smoothing of each component's word distribution,
        ``μ_kw = (N_kw + alpha) / (N_k + alpha * n_features)``: the MAP estimate
        under a symmetric Dirichlet(alpha + 1) prior, which then enters the
        objective (as in :class:`fastem.NaiveBayesEM`, whose default it
        shares). ``0`` is maximum likelihood (a component gives probability 0
        to words it never saw). In clustering the smoothing is a regulariser,
        not a detail: with little of it a component can win documents through
        rare words that only it has seen, and clusters form around them. On
        20 Newsgroups (30 814 words, 20 components, kmeans++ init) the mean
        NMI with the true groups is 0.43 for ``alpha=0.001``, 0.45 for 0.01,
        0.49 for 0.1, 0.51 for 0.3, 0.54 for 0.5, 0.55 for 1, 0.57 for 2 and
        0.39 for 5 (4 to 8 seeds each; between 1 and 2 the difference is
        within the noise).
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet prior ``a`` on the mixing weights; every ``a_k >= 1``.
        ``None`` is maximum likelihood, ``π_k = N_k / N``; otherwise the MAP
        estimate ``π_k = (N_k + a_k - 1) / (N + sum(a) - K)`` (seed 004 eq.
        57), which keeps a component alive (``π_k > 0``) when ``a_k > 1``. Not
        the variational prior of scikit-learn's ``BayesianGaussianMixture``.
    tol : float, default=1e-4
        Convergence threshold on the change of the objective per sample.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation. ``0`` returns the
        initial parameters.
    n_init : int, default=1
        Number of initialisations; the one with the highest objective is kept.
    init_params : {'kmeans++', 'random', 'random_from_data'}, default='kmeans++'
        Starting point. ``'kmeans++'``: greedy k-means++ seeding of documents
        with the KL divergence, computed on the CSR matrix (see Notes).
        ``'random_from_data'``: ``n_components`` distinct documents drawn at
        random, smoothed the same way, as the initial word distributions.
        ``'random'``: the rows are split at random into ``n_components``
        groups of equal size (±1), then an M-step.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisations and for :meth:`sample`.
    warm_start : bool, default=False
        If True, a second ``fit`` starts from the fitted parameters (and
        ``n_init`` is ignored).
    n_jobs : int, default=None
        Number of threads for the kernels during ``fit`` and prediction
        (``-1`` = all of Numba's threads, ``None`` = Numba's current setting);
        the previous setting is restored afterwards.
    verbose : int, default=0
        Print the objective at every iteration when > 0.
    dtype : {np.float64, np.float32}, default=np.float64
        dtype of the word log-probability table (``feature_log_prob_``), which
        every E-step reads once per non-zero; float32 halves that traffic,
        and the M-step's reads of the responsibilities (see
        :class:`fastem.NaiveBayesEM`). Counts and sums stay float64.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights ``π``.
    feature_log_prob_ : ndarray of shape (n_components, n_features)
        Log probability of each word in each component (``log μ``): a
        transposed view of the internal [n_features, n_components]
        C-contiguous array the kernels read.
    converged_ : bool
    n_iter_ : int
        EM iterations run by the kept initialisation.
    lower_bound_ : float
        Objective of the fitted model, per sample: the log-likelihood
        ``sum_i log p(x_i)`` (without multinomial coefficients) plus the
        log-densities of the priors, ``alpha * sum log μ`` and
        ``sum_k (a_k - 1) log π_k``, divided by n_samples. EM never decreases it.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The objective after each iteration.
    n_features_in_ : int

    Notes
    -----
    ``init_params='kmeans++'`` picks seed documents one at a time. Candidates
    are drawn with probability proportional to ``n_i KL(p_i || c)``, the
    divergence of a document's word distribution ``p_i`` from its nearest seed
    so far, weighted by its length ``n_i`` (the nats the document loses to
    that seed); of 30 candidates the one that lowers the total divergence of
    the other documents most becomes the seed. A seed is the document's word
    distribution mixed half and half with the corpus's, so that every word has
    a positive probability. EM then starts from the seeds with equal weights.
    On the 20 Newsgroups training set (headers removed,
    :func:`fastem.datasets.load_20newsgroups`, 20 components, ``alpha=1``) it
    reaches a higher objective than the other inits (mean over 28 seeds
    -1634.4 per document, against -1637.5 for ``'random'`` and -1637.8 for
    ``'random_from_data'`` over 8) and a mean NMI of
    0.557 (0.544 and 0.541; single runs range from 0.49 to 0.59). With
    ``n_init=5`` the mean NMI is 0.564 (6 seeds, lowest 0.552), about what
    the other inits reach with ``n_init=5`` too: at ``alpha=1`` the init
    matters less for NMI than for the objective. With ``alpha=0.01`` every
    init does worse and the init matters more (0.45, 0.24 and 0.34). On
    synthetic corpora (:func:`fastem.datasets.make_corpus`) kmeans++ found the
    planted clusters from every seed tried, where ``'random'`` often merged
    two of them.

    ``score_samples`` and the objective leave out the multinomial coefficient
    ``log(n! / prod_w x_w!)``: it does not depend on the parameters.

    See Also
    --------
    fastem.NaiveBayesEM : the same model with (some) rows labelled.

    Examples
    --------
    >>> from fastem import MultinomialMixture
    >>> from fastem.datasets import make_corpus
    >>> from sklearn.metrics import adjusted_rand_score
    >>> X, y, _ = make_corpus(n_samples=600, n_features=200, n_classes=3, random_state=0)
    >>> model = MultinomialMixture(n_components=3, random_state=0).fit(X)
    >>> bool(adjusted_rand_score(y, model.predict(X)) > 0.95)
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        # the range (>= 1) is checked in fit, with a message that says why
        "weight_concentration_prior": [Real, "array-like", None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans++", "random", "random_from_data"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "dtype": "no_validation",  # check_param_dtype, in fit
    }

    def __init__(self, n_components=1, *, alpha=1.0, weight_concentration_prior=None, tol=1e-4,
                 max_iter=100, n_init=1, init_params="kmeans++", random_state=None,
                 warm_start=False, n_jobs=None, verbose=0, dtype=np.float64):
        self.n_components = n_components
        self.alpha = alpha
        self.weight_concentration_prior = weight_concentration_prior
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.dtype = dtype

    # ------------------------------------------------------------------ fit
    def _check_fit_params(self):
        self._dtype = check_param_dtype(self.dtype, self)

    def fit(self, X, y=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative counts (or weights such as tf-idf).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : MultinomialMixture
        """
        X, warm = self._start_fit(X)
        vocabulary = Vocabulary(X, enabled=self.max_iter > 0)
        with threads(self.n_jobs) as n_threads, fitting_on(self, vocabulary, ("_log_prob",), warm):
            self._fit_em(make_em_data(vocabulary.matrix(X), self.n_components, n_threads))
        return self

    # ------------------------------------------------------------ EM hooks
    def _has_latent(self, data):
        return True

    def _initialize(self, data, random_state):
        n_samples, n_features = data.X.shape
        n_components = self.n_components
        if self.init_params == "random":
            # a random balanced partition: no component starts empty
            labels = (random_state.permutation(n_samples) % n_components).astype(np.int64)
            self._m_step(data, assignment_counts(data, labels, n_components))
            return
        if self.init_params == "kmeans++":
            # (the EM passes need the blocked copy anyway: the seeding's passes use it too)
            log_prob, _ = kl_kmeans_plusplus(data.X, n_components, random_state, alpha=self.alpha,
                                             smoothing=_SEED_SMOOTHING,
                                             n_features=self.n_features_in_, blocks=data.blocks())
        else:  # random_from_data
            rows = random_state.choice(n_samples, size=n_components, replace=False)
            log_prob = DocumentSeeds(data.X, self.alpha, _SEED_SMOOTHING,
                                     self.n_features_in_).log_centers(rows)
        self._log_prob = log_prob.astype(self._dtype, copy=False)
        self._log_prob_sum = self._vocabulary.table_sum(self._log_prob)
        self._log_weights = np.full(n_components, -np.log(n_components))

    def _e_step(self, data):
        return expected_counts(data, *self._kernel_tables())

    def _m_step(self, data, stats):
        counts, class_counts = stats
        # with the sum of the table for the Dirichlet prior, from the same pass
        # (summing it again would read the whole table every iteration)
        self._log_prob, _, self._log_prob_sum = multinomial_log_prob(
            counts, self.alpha, return_sums=True, dtype=self._dtype, n_features=self.n_features_in_)
        with np.errstate(divide="ignore"):  # an empty component under ML has weight 0
            self._log_weights = np.log(_map_mixture_weights(class_counts, self._concentration))

    def _log_param_prior(self):
        prior = _log_dirichlet_prior(np.exp(self._log_weights), self._concentration)
        if self.alpha > 0:
            prior += self.alpha * self._log_prob_sum
        return prior

    def __setstate__(self, state):
        # models pickled before the table's sum was kept
        if "_log_prob" in state and "_log_prob_sum" not in state:
            state["_log_prob_sum"] = float(state["_log_prob"].sum(dtype=np.float64))
        super().__setstate__(state)

    def _get_parameters(self):
        return self._log_weights, self._log_prob, self._log_prob_sum

    def _set_parameters(self, params):
        self._log_weights, self._log_prob, self._log_prob_sum = params
        self.weights_ = np.exp(self._log_weights)

    # ------------------------------------------------------------ attributes
    @property
    def feature_log_prob_(self):
        return self._log_prob.T

    def _n_parameters(self):
        n_features, n_components = self._log_prob.shape
        return n_components * (n_features - 1) + n_components - 1

    # ------------------------------------------------------------ prediction
    def _validated_rows(self, X):
        return check_csr(X, n_features=self.n_features_in_, estimator=self)

    def _kernel_tables(self):
        return self._log_weights, self._log_prob

    def score_samples(self, X):
        """Log-likelihood ``log p(x) = logsumexp_k(log π_k + sum_w x_w log μ_kw)`` per row.

        The multinomial coefficient ``log(n! / prod_w x_w!)`` is left out: it
        does not depend on the parameters, so it changes neither the posterior
        nor any comparison between models on the same data (add
        ``gammaln(n + 1) - sum_w gammaln(x_w + 1)`` for the probability of the
        counts themselves). A row impossible under every component (possible
        only with ``alpha=0``) gets -inf.
        """
        return self._predict_arrays(X, need_posterior=True)[2]

    # --------------------------------------------------------- generation
    def sample(self, n_samples=1, doc_length=100):
        """Draw documents from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
        doc_length : int or array-like of shape (n_samples,), default=100
            Number of words of every document, or of each (in output order).

        Returns
        -------
        X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
            Word counts (float64), rows grouped by component.
        y : ndarray of shape (n_samples,)
            Component of each row (sorted, as in ``GaussianMixture.sample``).
        """
        check_is_fitted(self, "weights_")
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                             "requires at least one sample.")
        lengths = np.asarray(doc_length)
        if lengths.ndim == 0:
            lengths = np.full(n_samples, lengths)
        if (lengths.shape != (n_samples,) or lengths.dtype.kind not in "iuf"
                or np.any(lengths < 0) or np.any(lengths != np.round(lengths))):
            raise ValueError("doc_length must be a non-negative integer or one per sample "
                             f"(shape ({n_samples},)).")
        lengths = lengths.astype(np.int64)
        rng = check_random_state(self.random_state)
        n_features, n_components = self._log_prob.shape
        per_component = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        y = np.repeat(np.arange(n_components), per_component)
        return sample_word_counts(np.exp(self._log_prob.T.astype(np.float64)), y, lengths, rng), y

    # ------------------------------------------------------- interpretation
    def top_terms(self, feature_names=None, n=10):
        """The ``n`` most probable words of every component.

        Parameters
        ----------
        feature_names : array-like of shape (n_features,), default=None
            The vocabulary (e.g. ``CountVectorizer.get_feature_names_out()``);
            None names word ``j`` ``"x{j}"``.
        n : int, default=10
            Words per component (at most n_features).

        Returns
        -------
        topics : list of dict
            One per component, by decreasing weight, each with ``component``
            (its index in ``weights_``/``feature_log_prob_``), ``weight``
            (``π_k``) and ``terms``: a list of ``(word, probability)`` pairs,
            most probable first. :func:`format_top_terms` prints it as a table.
        """
        check_is_fitted(self, "weights_")
        n_features = self._log_prob.shape[0]
        if feature_names is None:
            names = np.array([f"x{j}" for j in range(n_features)], dtype=object)
        else:
            names = np.asarray(feature_names, dtype=object)
            if names.shape != (n_features,):
                raise ValueError(f"feature_names has {names.shape[0] if names.ndim else 1} "
                                 f"entries, expected n_features = {n_features}.")
        if not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        n = min(n, n_features)
        topics = []
        for k in np.argsort(-self.weights_, kind="stable"):
            log_prob = self._log_prob[:, k]
            # a full stable sort, not argpartition: ties (an empty component's
            # uniform distribution) must be broken by index, not arbitrarily
            top = np.argsort(-log_prob, kind="stable")[:n]
            topics.append({"component": int(k), "weight": float(self.weights_[k]),
                           "terms": [(str(names[j]), float(np.exp(log_prob[j]))) for j in top]})
        return topics


def format_top_terms(topics, n_terms=None, probabilities=False):
    """Format :meth:`MultinomialMixture.top_terms` as a text table.

    One line per component, as in seed 001 (problem 5, Table 1): rank, the
    component's index, its weight and its top words (with their probabilities
    when ``probabilities`` is True); ``n_terms`` shows only the first words.
    A component of weight exactly 0 (no row has any responsibility for it, so
    under maximum-likelihood weights it stays empty) is marked as such: its
    word distribution is the smoothing alone, and its "top words" mean nothing.
    """
    lines = [f"{'rank':>4} {'comp':>4} {'weight':>7}  top terms"]
    for rank, topic in enumerate(topics, start=1):
        terms = topic["terms"][:n_terms] if n_terms is not None else topic["terms"]
        words = ", ".join(f"{w} ({p:.4f})" if probabilities else w for w, p in terms)
        if topic["weight"] == 0:
            words = "(empty component)"
        lines.append(f"{rank:>4} {topic['component']:>4} {topic['weight']:>7.4f}  {words}")
    return "\n".join(lines)
