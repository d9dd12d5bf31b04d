"""Tests of :class:`fastem.BernoulliMixture` and its helpers in ``fastem.mixture``.

Expected values come from outside the library: the dense references of
``reference.py`` (full Bernoulli formula ``x log μ + (1 - x) log(1 - μ)``,
SciPy's logsumexp), numerical maximisation with ``scipy.optimize`` for the
MAP M-step, and parameters planted in synthetic data for recovery.

Threads: estimator tests run with ``n_jobs=1`` unless they are about
threads. The kernels are tested at 1 and 2 threads against the reference and
``n_jobs=1`` against ``n_jobs=2``; everything else would only measure the cost
of starting parallel regions, which is large on a busy 2-core machine (an
OpenMP barrier waits for a descheduled thread: ~30 ms per EM pass measured on
a 300 x 25 problem, against 0.06 ms with one thread).

Tolerances: the E-step is the multinomial ``em_pass`` kernel on presence
data, accumulating in float64; it differs from the dense reference only by
reassociation (the sparse log-odds form sums the same logs in another order),
so 1e-12 relative and absolute, as in ``test_kernels_csr.py``. Numerical
maximisation with BFGS and finite-difference gradients reaches about 1e-7 in
the parameters; it is compared at 1e-5.
"""
import os
import pickle
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from scipy.optimize import linear_sum_assignment, minimize  # noqa: E402
from scipy.special import expit, log_softmax, logsumexp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastem import BernoulliMixture  # noqa: E402
from fastem._validation import CSR  # noqa: E402
from conftest import guard_kernels  # noqa: E402
from fastem._base import assignment_counts, expected_counts, make_em_data  # noqa: E402
from fastem.mixture import (  # noqa: E402
    MEAN_EPS,
    _bernoulli_log_prior,
    _bernoulli_m_step,
    _bernoulli_tables,
    _binarize_csr,
)
from helpers import quiet  # noqa: E402

from reference import (  # noqa: E402
    dense_presence,
    dense_rows,
    ref_bernoulli_em_pass,
    ref_bernoulli_joint_log_likelihood,
    ref_bernoulli_map_objective,
    ref_log_posterior,
)

RTOL = ATOL = 1e-12
OPT_ATOL = 1e-5



def _bernoulli_data(Xc, n_components, n_threads):
    """What BernoulliMixture.fit hands the EM driver: the presence pattern."""
    return make_em_data(_binarize_csr(Xc), n_components, n_threads)


def _bernoulli_em_pass(data, log_prior, log_odds):
    log_likelihood, (counts, class_counts) = expected_counts(data, log_prior, log_odds)
    return log_likelihood, counts, class_counts

def assert_close(actual, desired, rtol=RTOL, atol=ATOL):
    assert_allclose(actual, desired, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# CSR fixtures with explicit dtypes
# --------------------------------------------------------------------------

def typed_csr(rows, n_features, data_dtype=np.float64, index_dtype=np.int64):
    """(validated-style CSR namedtuple, SciPy matrix) holding the entries
    exactly in the order given: unsorted, duplicates and stored zeros kept."""
    data, indices, indptr = [], [], [0]
    for entries in rows:
        for w, v in entries:
            indices.append(w)
            data.append(v)
        indptr.append(len(indices))
    arrays = (np.array(data, dtype=data_dtype), np.array(indices, dtype=index_dtype),
              np.array(indptr, dtype=index_dtype))
    shape = (len(rows), n_features)
    X = sp.csr_matrix(tuple(a.copy() for a in arrays), shape=shape)
    return CSR(*arrays, shape), X


# 7 features, 3 components.
#   feature 3: all-zero column (never stored)
#   feature 6: only ever stored as an explicit zero
N_FEATURES = 7
N_COMPONENTS = 3
ROWS = [
    [(1, 2.0), (0, 1.0), (4, 3.0)],              # 0 unsorted, counts > 1
    [],                                          # 1 empty
    [(0, 1.0), (5, 1.0), (0, 2.0)],              # 2 duplicate on feature 0
    [(2, 0.0), (6, 0.0), (1, 1.5)],              # 3 stored zeros
    [(2, 0.0), (2, 4.0)],                        # 4 stored zero + value on one feature: present
    [(6, 0.0)],                                  # 5 only a stored zero: like an empty row
    [(4, 0.5), (1, 0.25), (0, 7.0), (5, 1.0)],   # 6 unsorted
    [],                                          # 7 empty
    [(1, 1.0), (1, 1.0)],                        # 8 duplicate: present once
    [(0, 1.0), (1, 1.0), (2, 1.0), (4, 1.0), (5, 1.0)],  # 9 canonical, binary
    [(5, 0.5), (2, 2.0)],                        # 10 unsorted
]


def fixture_params(empty_component=False):
    """Public-layout weights [K] and means [K, n_features], some at the clip bounds."""
    rng = np.random.default_rng(2024)
    means = rng.uniform(0.02, 0.98, size=(N_COMPONENTS, N_FEATURES))
    means[0, 2] = MEAN_EPS
    means[1, 4] = 1.0 - MEAN_EPS
    means[2, 3] = MEAN_EPS
    weights = np.array([0.5, 0.5, 0.0]) if empty_component else np.array([0.5, 0.3, 0.2])
    return weights, means


def kernel_tables(weights, means):
    log_odds, log_complement, _, _ = _bernoulli_tables(np.ascontiguousarray(means.T))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    return _bernoulli_log_prior(log_weights, log_complement), log_odds


def model_with(weights, means):
    """A BernoulliMixture holding the given parameters, as if fitted."""
    model = BernoulliMixture(n_components=len(weights))
    model.n_features_in_ = means.shape[1]
    model._set_parameters((np.asarray(weights, dtype=np.float64),
                           np.ascontiguousarray(means.T, dtype=np.float64)))
    return model


# data_dtype, index_dtype and n_threads come from conftest.py

@pytest.fixture
def fixture_csr(data_dtype, index_dtype):
    return typed_csr(ROWS, N_FEATURES, data_dtype, index_dtype)


# --------------------------------------------------------------------------
# presence data and the E-step (em_pass on presence data) vs the reference
# --------------------------------------------------------------------------

def test_fixture_has_awkward_features():
    Xc, X = typed_csr(ROWS, N_FEATURES)
    assert not X.has_canonical_format
    assert np.any(Xc.data == 0) and np.any(Xc.data > 1)
    presence = dense_presence(X)
    assert np.all(presence[:, [3, 6]] == 0)
    assert np.all(presence[[1, 5, 7]] == 0)
    assert presence[4, 2] == 1 and presence[8].sum() == 1


def test_binarize_csr(fixture_csr):
    Xc, X = fixture_csr
    before = [a.copy() for a in Xc[:3]]
    Xb = _binarize_csr(Xc)
    for a, b in zip(Xc[:3], before):
        assert_array_equal(a, b)  # the caller's arrays are untouched
    assert Xb.data.dtype == Xc.data.dtype
    assert Xb.indices.dtype == Xb.indptr.dtype == Xc.indices.dtype
    assert set(np.unique(Xb.data)) <= {0.0, 1.0}
    Mb = sp.csr_matrix((Xb.data, Xb.indices, Xb.indptr), shape=Xb.shape)
    assert Mb.has_canonical_format  # every present feature stored once
    assert_array_equal(dense_rows(Mb), dense_presence(X))


def test_binarize_canonical_input_shares_indices(data_dtype, index_dtype):
    rows = [[(0, 2.0), (3, 0.0), (4, 1.0)], [], [(1, 0.5)], [(0, 1.0), (2, 3.0)]]
    Xc, X = typed_csr(rows, 5, data_dtype, index_dtype)
    Xb = _binarize_csr(Xc)
    assert Xb.indices is Xc.indices and Xb.indptr is Xc.indptr
    assert_array_equal(Xb.data, [1, 0, 1, 1, 1, 1])
    assert_array_equal(dense_rows(sp.csr_matrix(Xb[:3], shape=Xb.shape)), dense_presence(X))


@pytest.mark.parametrize("empty_component", [False, True], ids=["full", "pi_k=0"])
def test_em_pass_matches_reference(fixture_csr, n_threads, empty_component):
    Xc, X = fixture_csr
    weights, means = fixture_params(empty_component)
    log_prior, log_odds = kernel_tables(weights, means)
    data = _bernoulli_data(Xc, N_COMPONENTS, n_threads)
    assert data.bounds.shape[0] == n_threads + 1
    got = _bernoulli_em_pass(data, log_prior, log_odds)
    want = ref_bernoulli_em_pass(X, weights, means)
    assert np.isfinite(got[0])
    for g, w in zip(got, want):
        assert_close(g, w)
    # all-zero columns and columns of stored zeros collect no presence counts
    assert_array_equal(got[1][[3, 6]], 0.0)
    if empty_component:
        assert got[2][2] == 0.0


def test_hard_count_pass(fixture_csr, n_threads):
    """With labels (the 'random' initialisation) the pass counts presences per component."""
    Xc, X = fixture_csr
    labels = np.arange(Xc.shape[0], dtype=np.int64) % N_COMPONENTS
    data = _bernoulli_data(Xc, N_COMPONENTS, n_threads)
    counts, class_counts = assignment_counts(data, labels, N_COMPONENTS)
    onehot = np.eye(N_COMPONENTS)[labels]
    assert_close(counts, dense_presence(X).T @ onehot)
    assert_close(class_counts, onehot.sum(axis=0))


@pytest.mark.parametrize("empty_component", [False, True], ids=["full", "pi_k=0"])
def test_prediction_methods_match_reference(fixture_csr, n_threads, empty_component):
    Xc, X = fixture_csr
    weights, means = fixture_params(empty_component)
    model = model_with(weights, means)
    jll = ref_bernoulli_joint_log_likelihood(X, weights, means)
    resp, log_norm = ref_log_posterior(jll)
    assert_close(model.score_samples(X), log_norm)
    assert_close(model.predict_proba(X), resp)
    assert_array_equal(model.predict(X), np.argmax(jll, axis=1))
    assert_close(model.score(X), log_norm.mean())
    # an empty row's log-likelihood is log Σ_k π_k Π_i (1 - μ_ki)
    assert_close(model.score_samples(X)[1], logsumexp(np.log1p(-means).sum(axis=1), b=weights))


def test_prediction_on_random_csr_matches_reference(data_dtype, index_dtype, n_threads):
    rng = np.random.default_rng(5)
    n_rows, n_features, k = 120, 30, 4
    rows = []
    for _ in range(n_rows):
        cols = rng.integers(0, n_features, size=rng.binomial(n_features, 0.2))
        values = rng.choice([0.0, 0.5, 1.0, 3.0], size=cols.size)
        rows.append(list(zip(cols.tolist(), values.tolist())))
    Xc, X = typed_csr(rows, n_features, data_dtype, index_dtype)
    weights = rng.dirichlet(np.ones(k))
    means = rng.uniform(0.01, 0.99, size=(k, n_features))
    log_prior, log_odds = kernel_tables(weights, means)
    got = _bernoulli_em_pass(_bernoulli_data(Xc, k, n_threads), log_prior, log_odds)
    for g, w in zip(got, ref_bernoulli_em_pass(X, weights, means)):
        assert_close(g, w)
    model = model_with(weights, means)
    assert_close(model.score_samples(X), ref_log_posterior(
        ref_bernoulli_joint_log_likelihood(X, weights, means))[1])


# --------------------------------------------------------------------------
# the MAP M-step against numerical maximisation
# --------------------------------------------------------------------------

def _numerical_map(x, resp, a, b, concentration):
    """Maximise the expected complete-data log-likelihood plus the log prior,

    Σ_nk γ_nk [log π_k + Σ_i x_ni log μ_ki + (1 - x_ni) log(1 - μ_ki)]
      + Σ_ki [(a - 1) log μ_ki + (b - 1) log(1 - μ_ki)] + Σ_k (α_k - 1) log π_k,

    over μ = sigmoid(θ), π = softmax(φ) with BFGS. Returns (weights, means [K, D])."""
    n_features, k = x.shape[1], resp.shape[1]

    def negative(params):
        theta = params[:k * n_features].reshape(k, n_features)
        log_pi = log_softmax(params[k * n_features:])
        log_mu, log_one_minus = -np.logaddexp(0, -theta), -np.logaddexp(0, theta)
        value = np.sum(resp * (log_pi + x @ log_mu.T + (1 - x) @ log_one_minus.T))
        value += (a - 1) * log_mu.sum() + (b - 1) * log_one_minus.sum()
        value += np.sum((concentration - 1) * log_pi)
        return -value

    result = minimize(negative, np.zeros(k * n_features + k), method="BFGS",
                      options=dict(gtol=1e-10, maxiter=10000))
    theta = result.x[:k * n_features].reshape(k, n_features)
    return np.exp(log_softmax(result.x[k * n_features:])), expit(theta)


M_STEP_CASES = [
    (1.0, 1.0, [1.0, 1.0]),          # maximum likelihood
    (2.0, 2.0, [1.0, 1.0]),          # Laplace smoothing of the means
    (1.5, 3.0, [2.0, 4.5]),          # asymmetric Beta, Dirichlet per component
    (1.0, 2.5, [3.0, 3.0]),
]


@pytest.mark.parametrize("a,b,concentration", M_STEP_CASES)
def test_m_step_is_numerical_maximum(a, b, concentration):
    rng = np.random.default_rng(3)
    x = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 1, 1],
                  [1, 0, 0, 1], [0, 1, 0, 0]], dtype=float)  # every column has 0s and 1s
    resp = rng.dirichlet(np.ones(2), size=x.shape[0])
    concentration = np.array(concentration)
    weights, mean = _bernoulli_m_step(x.T @ resp, resp.sum(axis=0), a, b, concentration)
    want_weights, want_means = _numerical_map(x, resp, a, b, concentration)
    assert_allclose(mean.T, want_means, atol=OPT_ATOL, rtol=0)
    assert_allclose(weights, want_weights, atol=OPT_ATOL, rtol=0)


def test_one_em_iteration_is_numerical_map_step():
    """A warm-started fit with max_iter=1 performs M(θ0): the maximiser of the
    expected complete-data log posterior under the reference responsibilities."""
    rng = np.random.default_rng(8)
    x = (rng.random((8, 4)) < 0.5).astype(float)
    x[0], x[1] = [1, 1, 1, 1], [0, 0, 0, 0]
    X = sp.csr_matrix(x)
    a, b, concentration = 1.5, 2.0, np.array([2.0, 1.5])
    model = BernoulliMixture(2, n_jobs=1, beta_prior=(a, b),
                             weight_concentration_prior=concentration,
                             max_iter=2, tol=0, random_state=0, warm_start=True)
    with quiet():
        model.fit(X)
        theta0 = model.weights_.copy(), model.means_.copy()
        model.set_params(max_iter=1).fit(X)
    resp, _ = ref_log_posterior(ref_bernoulli_joint_log_likelihood(X, *theta0))
    want_weights, want_means = _numerical_map(x, resp, a, b, concentration)
    assert_allclose(model.means_, want_means, atol=OPT_ATOL, rtol=0)
    assert_allclose(model.weights_, want_weights, atol=OPT_ATOL, rtol=0)


def test_m_step_clips_degenerate_maximum_likelihood():
    counts = np.array([[0.0, 0.0], [3.0, 0.0], [1.5, 0.0]])  # [n_features, K]
    class_counts = np.array([3.0, 0.0])  # component 1 empty
    weights, mean = _bernoulli_m_step(counts, class_counts, 1.0, 1.0, np.ones(2))
    assert mean[0, 0] == MEAN_EPS and mean[1, 0] == 1.0 - MEAN_EPS  # absent / present everywhere
    assert mean[2, 0] == 0.5
    assert_array_equal(mean[:, 1], 0.5)  # empty component: flat objective, μ = 0.5
    assert_array_equal(weights, [1.0, 0.0])
    # a Dirichlet concentration > 1 keeps the empty component alive
    weights, _ = _bernoulli_m_step(counts, class_counts, 1.0, 1.0, np.array([2.0, 2.0]))
    assert_close(weights, [4.0 / 5.0, 1.0 / 5.0])
    # a, b > 1: strictly inside (0, 1), no clipping
    _, mean = _bernoulli_m_step(counts, class_counts, 2.0, 3.0, np.ones(2))
    assert_close(mean[:, 0], (counts[:, 0] + 1.0) / (3.0 + 3.0))
    assert_close(mean[:, 1], 1.0 / 3.0)


# --------------------------------------------------------------------------
# the objective: what lower_bound_ is, and that it never decreases
# --------------------------------------------------------------------------

def planted(n_samples, n_features, n_components, seed, density=None):
    """Binary data from a random Bernoulli mixture: (X dense, z, weights, means)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 2.0))
    if density is None:
        means = rng.beta(0.5, 0.5, size=(n_components, n_features))
    else:
        means = np.clip(rng.exponential(density, size=(n_components, n_features)), 0, 1)
    z = rng.choice(n_components, size=n_samples, p=weights)
    x = (rng.random((n_samples, n_features)) < means[z]).astype(np.float64)
    return x, z, weights, means


PRIORS = [((1.0, 1.0), None), ((1.0, 1.0), 1.0), ((2.0, 2.0), None), ((1.2, 3.0), 2.5),
          ((1.0, 1.5), "per-component")]


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n_samples=st.integers(2, 60), n_features=st.integers(1, 12), n_components=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1), sparse_data=st.booleans(),
       prior=st.sampled_from(PRIORS), init=st.sampled_from(["random", "random_from_data"]))
def test_objective_never_decreases(n_samples, n_features, n_components, seed, sparse_data, prior,
                                   init):
    n_components = min(n_components, n_samples)
    x, _, _, _ = planted(n_samples, n_features, n_components, seed, 0.2 if sparse_data else None)
    beta, concentration = prior
    if concentration == "per-component":
        concentration = np.linspace(1.0, 3.0, n_components)
    model = BernoulliMixture(n_components, n_jobs=1, beta_prior=beta,
                             weight_concentration_prior=concentration,
                             init_params=init, max_iter=30, tol=0.0, random_state=seed % 1000)
    with quiet():
        model.fit(sp.csr_matrix(x))
    lbs = model.lower_bounds_
    assert lbs.shape == (30,)
    assert np.all(np.isfinite(lbs))
    # never decreases, up to rounding: 1e-10 relative, or 1e-13 absolute for
    # objectives near 0 (a column absent everywhere gives log(1 - 1e-10) per row)
    change = np.diff(lbs)
    assert not np.any((change < -1e-10 * np.abs(lbs[:-1])) & (change < -1e-13)), change
    assert lbs[-1] == model.lower_bound_
    conc = 1.0 if concentration is None else concentration
    assert_allclose(model.lower_bound_,
                    ref_bernoulli_map_objective(sp.csr_matrix(x), model.weights_, model.means_,
                                                *beta, conc), rtol=1e-10, atol=1e-12)
    assert np.all((model.means_ >= MEAN_EPS) & (model.means_ <= 1 - MEAN_EPS))
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-12)


def test_lower_bound_includes_the_priors():
    x, _, _, _ = planted(200, 15, 3, seed=4)
    X = sp.csr_matrix(x)
    kwargs = dict(n_components=3, random_state=0, tol=1e-8, max_iter=500, n_jobs=1)
    ml = BernoulliMixture(**kwargs).fit(X)
    assert_close(ml.lower_bound_, ml.score(X), rtol=1e-10)  # no prior: mean log-likelihood
    m = BernoulliMixture(beta_prior=(2.0, 3.0), weight_concentration_prior=[1.0, 2.0, 5.0],
                         **kwargs).fit(X)
    assert m.converged_
    prior = (np.log(m.means_).sum() + 2.0 * np.log1p(-m.means_).sum()
             + np.log(m.weights_[1]) + 4.0 * np.log(m.weights_[2]))
    assert_allclose(m.lower_bound_, m.score(X) + prior / X.shape[0], rtol=1e-10)


# --------------------------------------------------------------------------
# recovery of planted parameters
# --------------------------------------------------------------------------

# Measured: planted test (N = 3000, D = 40, K = 3) mean |μ - μ_true| per
# component 0.0063, 0.0058, 0.0089 and max |π - π_true| 0.0147 (the sampling
# noise of π̂ has sd ≈ 0.009 here); own-sample test (N = 4000, D = 20, K = 2)
# 0.0041, 0.0075 and 0.0022. Tolerances leave a margin.
RECOVERY_MEAN_MAE = 0.015
RECOVERY_WEIGHT_ATOL = 0.03


def test_planted_parameters_are_recovered():
    rng = np.random.default_rng(0)
    weights = np.array([0.5, 0.3, 0.2])
    means = rng.beta(0.4, 0.4, size=(3, 40))
    z = rng.choice(3, size=3000, p=weights)
    X = sp.csr_matrix((rng.random((3000, 40)) < means[z]).astype(np.float64))
    model = BernoulliMixture(3, n_jobs=1, n_init=3, random_state=0, tol=1e-6, max_iter=300).fit(X)
    assert model.converged_
    cost = np.abs(model.means_[:, None, :] - means[None, :, :]).mean(axis=2)
    found, true = linear_sum_assignment(cost)
    assert cost[found, true].mean() < RECOVERY_MEAN_MAE, cost[found, true]
    assert_allclose(model.weights_[found], weights[true], atol=RECOVERY_WEIGHT_ATOL, rtol=0)
    relabel = np.empty(3, dtype=int)
    relabel[found] = true
    assert adjusted_rand_score(z, relabel[model.predict(X)]) > 0.95


def test_sample_draws_from_the_mixture():
    weights, means = np.array([0.6, 0.4]), np.array([[0.9, 0.2, 0.0 + MEAN_EPS, 0.5],
                                                     [0.1, 0.7, 0.5, 1 - MEAN_EPS]])
    model = model_with(weights, means)
    model.random_state = 0
    n = 20000
    X, y = model.sample(n)
    assert sp.issparse(X) and X.format == "csr" and X.shape == (n, 4)
    assert X.dtype == np.float64 and np.all(X.data == 1.0)
    assert_array_equal(np.diff(y) >= 0, True)  # grouped by component, like GaussianMixture
    counts = np.bincount(y, minlength=2)
    assert abs(counts[0] / n - 0.6) < 4 * np.sqrt(0.24 / n)
    for k in range(2):
        freq = np.asarray(X[y == k].mean(axis=0)).ravel()
        sd = np.sqrt(means[k] * (1 - means[k]) / counts[k])
        assert np.all(np.abs(freq - means[k]) <= 4 * sd + 1e-12), (freq, means[k])
    X2, y2 = model.sample(n)  # an integer random_state gives the same sample
    assert_array_equal(y2, y)
    assert (X2 != X).nnz == 0
    X1, y1 = model.sample(1)
    assert X1.shape == (1, 4) and y1.shape == (1,)


def test_fit_on_own_sample_recovers_parameters():
    x, _, weights, means = planted(2000, 20, 2, seed=11)
    model = model_with(weights, means)
    model.random_state = 1
    X, y = model.sample(4000)
    fitted = BernoulliMixture(2, n_jobs=1, n_init=2, random_state=0, tol=1e-6).fit(X)
    cost = np.abs(fitted.means_[:, None, :] - means[None]).mean(axis=2)
    found, true = linear_sum_assignment(cost)
    assert cost[found, true].mean() < RECOVERY_MEAN_MAE
    assert_allclose(fitted.weights_[found], weights[true], atol=RECOVERY_WEIGHT_ATOL, rtol=0)


# --------------------------------------------------------------------------
# estimator behaviour
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def blobs():
    x, z, _, _ = planted(300, 25, 3, seed=7)
    return sp.csr_matrix(x), z


def test_fit_predict_equals_fit_then_predict(blobs):
    X, _ = blobs
    for init in ("random", "random_from_data"):
        kwargs = dict(n_components=3, init_params=init, random_state=0, n_init=2, n_jobs=1)
        labels = BernoulliMixture(**kwargs).fit_predict(X)
        assert_array_equal(labels, BernoulliMixture(**kwargs).fit(X).predict(X))
        assert labels.shape == (X.shape[0],) and set(labels) <= {0, 1, 2}


def test_fitted_attributes(blobs):
    X, z = blobs
    model = BernoulliMixture(3, n_jobs=1, n_init=2, random_state=0).fit(X)
    assert model.weights_.shape == (3,) and model.means_.shape == (3, X.shape[1])
    assert np.shares_memory(model.means_, model._mean)  # a view of the kernel layout
    assert model.n_features_in_ == X.shape[1]
    assert model.converged_ and 1 <= model.n_iter_ <= 100
    assert model.lower_bounds_.shape == (model.n_iter_,)
    assert adjusted_rand_score(z, model.predict(X)) > 0.9


def test_bic_aic_against_independent_formula(blobs):
    X, _ = blobs
    model = BernoulliMixture(3, n_jobs=1, random_state=0).fit(X)
    log_l = logsumexp(ref_bernoulli_joint_log_likelihood(X, model.weights_, model.means_),
                      axis=1).sum()
    n, d = X.shape
    p = 3 * d + 2
    assert_allclose(model.bic(X), -2 * log_l + p * np.log(n), rtol=1e-12)
    assert_allclose(model.aic(X), -2 * log_l + 2 * p, rtol=1e-12)
    # BIC prefers the true number of components
    bics = [BernoulliMixture(k, n_jobs=1, n_init=2, random_state=0).fit(X).bic(X)
            for k in (1, 3, 6)]
    assert np.argmin(bics) == 1


def test_single_component_is_the_closed_form(blobs):
    X, _ = blobs
    x = X.toarray()
    ml = BernoulliMixture(n_jobs=1).fit(X)
    assert ml.converged_
    assert_close(ml.weights_, [1.0])
    assert_close(ml.means_[0], np.clip(x.mean(axis=0), MEAN_EPS, 1 - MEAN_EPS))
    smooth = BernoulliMixture(n_jobs=1, beta_prior=(3.0, 2.0)).fit(X)
    assert_close(smooth.means_[0], (x.sum(axis=0) + 2.0) / (x.shape[0] + 3.0))


def _input_variants(x):
    """Different encodings of the same presence pattern."""
    rng = np.random.default_rng(0)
    counts = x * rng.integers(1, 5, size=x.shape)
    with_zeros = sp.csr_matrix(counts)
    rows, cols = np.nonzero(x == 0)
    pick = rng.random(rows.size) < 0.1
    coo = with_zeros.tocoo()
    stored_zeros = sp.csr_matrix(
        (np.concatenate([coo.data, np.zeros(pick.sum())]),
         (np.concatenate([coo.row, rows[pick]]), np.concatenate([coo.col, cols[pick]]))),
        shape=x.shape)
    stored_zeros.has_canonical_format = False
    # every present entry stored twice (0.25 and 2.0), the row's entries unsorted
    present = sp.csr_matrix(x)
    rows = []
    for i in range(x.shape[0]):
        cols = present.indices[present.indptr[i]:present.indptr[i + 1]].tolist()
        rows.append([(c, 2.0) for c in cols[::-1]] + [(c, 0.25) for c in cols])
    duplicates = typed_csr(rows, x.shape[1])[1]
    assert not duplicates.has_canonical_format
    return {
        "counts": with_zeros,
        "stored_zeros": stored_zeros,
        "duplicates": duplicates,
        "dense": counts,
        "coo": sp.coo_matrix(counts),
        "csr_array": sp.csr_array(counts),
        "float32": sp.csr_matrix(counts.astype(np.float32)),
        "int64_indices": sp.csr_matrix((with_zeros.data, with_zeros.indices.astype(np.int64),
                                        with_zeros.indptr.astype(np.int64)), shape=x.shape),
    }


@pytest.mark.parametrize("variant", ["counts", "stored_zeros", "duplicates", "dense", "coo",
                                     "csr_array", "float32", "int64_indices"])
def test_input_variants_identical(blobs, variant):
    X, _ = blobs
    kwargs = dict(n_components=3, random_state=0, max_iter=20, tol=0, n_jobs=1)
    with quiet():
        base = BernoulliMixture(**kwargs).fit(X)
        other = BernoulliMixture(**kwargs).fit(_input_variants(X.toarray())[variant])
    assert_allclose(other.lower_bounds_, base.lower_bounds_, rtol=1e-12)
    assert_allclose(other.means_, base.means_, rtol=1e-12, atol=1e-15)
    assert_allclose(other.predict_proba(_input_variants(X.toarray())[variant]),
                    base.predict_proba(X), rtol=1e-10, atol=1e-14)


def test_n_init_keeps_best_initialisation(blobs):
    X, _ = blobs
    kwargs = dict(n_components=5, max_iter=100, tol=1e-8, n_jobs=1)
    rs = np.random.RandomState(0)
    with quiet():
        singles = [BernoulliMixture(random_state=rs, **kwargs).fit(X) for _ in range(3)]
        best = BernoulliMixture(n_init=3, random_state=0, **kwargs).fit(X)
    bounds = np.array([m.lower_bound_ for m in singles])
    assert np.ptp(bounds) > 1e-6
    assert_allclose(best.lower_bound_, bounds.max(), rtol=1e-12)
    assert_allclose(best.means_, singles[int(np.argmax(bounds))].means_, rtol=1e-12)


def test_warm_start_continues_from_fitted_parameters(blobs):
    X, _ = blobs
    kwargs = dict(n_components=3, max_iter=1, tol=0.0, random_state=0, beta_prior=(1.5, 1.5),
                  n_jobs=1)
    model = BernoulliMixture(warm_start=True, **kwargs)
    bounds = []
    with quiet():
        for _ in range(6):
            bounds.append(model.fit(X).lower_bound_)
            assert model.n_iter_ == 1
        cold = BernoulliMixture(**dict(kwargs, max_iter=6)).fit(X)
    assert_allclose(bounds, cold.lower_bounds_, rtol=1e-12)
    assert_allclose(model.means_, cold.means_, rtol=1e-11)
    # without warm_start a refit restarts
    with quiet():
        fresh = BernoulliMixture(**kwargs)
        assert fresh.fit(X).lower_bound_ == fresh.fit(X).lower_bound_


def test_convergence_warning_once(blobs):
    X, _ = blobs
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        BernoulliMixture(3, n_jobs=1, max_iter=2, tol=0.0, n_init=3, random_state=0).fit(X)
    conv = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1 and "max_iter=2" in str(conv[0].message)


def test_n_jobs_1_and_2_agree_and_restore_threads(blobs):
    X, _ = blobs
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        kwargs = dict(n_components=3, max_iter=15, tol=0, random_state=0)
        with quiet():
            a = BernoulliMixture(n_jobs=1, **kwargs).fit(X)
            b = BernoulliMixture(n_jobs=2, **kwargs).fit(X)
        assert numba.get_num_threads() == 1
        assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)
        assert_allclose(a.means_, b.means_, rtol=1e-12)
        assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-12, atol=1e-14)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(previous)


def test_fit_is_bitwise_the_same_on_1_and_2_threads(blobs):
    """The fused pass sums every count in row order whatever the thread
    count (threads split the columns of the M phase, not the rows)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    X, _ = blobs
    kwargs = dict(n_components=3, max_iter=5, tol=0, random_state=0)
    with quiet():
        one = BernoulliMixture(n_jobs=1, **kwargs).fit(X)
        two = BernoulliMixture(n_jobs=2, **kwargs).fit(X)
    np.testing.assert_array_equal(one.lower_bounds_, two.lower_bounds_)
    np.testing.assert_array_equal(one.means_, two.means_)


def test_verbose_prints_iterations(blobs, capsys):
    X, _ = blobs
    with quiet():
        BernoulliMixture(3, n_jobs=1, max_iter=3, tol=0, verbose=1, random_state=0).fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines() if "Iteration" in line]
    assert len(lines) == 3


def test_fit_and_predict_never_densify(blobs, monkeypatch):
    X, _ = blobs

    def boom(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    for init in ("random", "random_from_data"):
        model = BernoulliMixture(3, init_params=init, max_iter=5, random_state=0)
        with quiet():
            model.fit(X.tocoo())
        model.predict(X.tocsc())
        model.predict_proba(sp.csr_array(X))
        model.score_samples(X)
        model.sample(10)


def test_pickle_round_trip(blobs):
    X, _ = blobs
    model = BernoulliMixture(3, n_jobs=1, beta_prior=(2.0, 2.0), random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(model))
    assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    assert_array_equal(clone.score_samples(X), model.score_samples(X))
    assert_array_equal(clone.means_, model.means_)
    assert np.shares_memory(clone.means_, clone._mean)
    assert clone.lower_bound_ == model.lower_bound_
    X1, y1 = model.sample(50)
    X2, y2 = clone.sample(50)
    assert_array_equal(y1, y2) and (X1 != X2).nnz == 0


# --------------------------------------------------------------------------
# bad input: rejected before any kernel runs (no_kernels: conftest.py)
# --------------------------------------------------------------------------

def _valid_X():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0],
                                   [0.0, 3.0, 0.0, 1.0],
                                   [4.0, 0.0, 0.0, 0.0],
                                   [0.0, 1.0, 1.0, 0.0]]))


@pytest.fixture(scope="module")
def fitted():
    return BernoulliMixture(2, random_state=0).fit(_valid_X())


@pytest.mark.parametrize("dense", [False, True])
def test_negative_values(no_kernels, dense):
    X = _valid_X()
    X.data[2] = -1.0
    with pytest.raises(ValueError, match="Negative values"):
        BernoulliMixture(2).fit(X.toarray() if dense else X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(no_kernels, fitted, bad):
    X = _valid_X()
    X.data[0] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        fitted.predict(X)


def test_bad_csr(no_kernels, fitted):
    X = _valid_X()
    X.indices[1] = 4  # out of range: would be read out of bounds by Numba
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 4\), found 4"):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match="column indices must lie"):
        fitted.score_samples(X)
    X = _valid_X()
    X.indptr[2] = 1
    X.indptr[1] = 3
    with pytest.raises(ValueError, match="not monotonically non-decreasing"):
        BernoulliMixture(2).fit(X)


def test_n_features_mismatch(no_kernels, fitted):
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(ValueError, match="X has 5 features, but BernoulliMixture is expecting 4"):
            getattr(fitted, method)(np.ones((2, 5)))


def test_warm_start_with_other_shape(monkeypatch):
    model = BernoulliMixture(2, warm_start=True, random_state=0).fit(_valid_X())
    guard_kernels(monkeypatch)
    with pytest.raises(ValueError, match="X has 5 features, but BernoulliMixture is expecting 4"):
        model.fit(np.ones((4, 5)))
    with pytest.raises(ValueError, match="needs the same n_components"):
        model.set_params(n_components=3).fit(_valid_X())


def test_not_fitted(no_kernels):
    model = BernoulliMixture(2)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(model, method)(_valid_X())
    with pytest.raises(NotFittedError):
        model.sample(3)


def test_n_components_larger_than_n_samples(no_kernels):
    with pytest.raises(ValueError, match="n_components=5 must be <= n_samples=4"):
        BernoulliMixture(5).fit(_valid_X())


@pytest.mark.parametrize("beta_prior", [(0.5, 1.0), (1.0, 0.99), (0.0, 0.0), (1.0, np.inf),
                                        (np.nan, 2.0)])
def test_beta_prior_below_one(no_kernels, beta_prior):
    with pytest.raises(ValueError, match="a >= 1 and b >= 1"):
        BernoulliMixture(2, beta_prior=beta_prior).fit(_valid_X())


@pytest.mark.parametrize("beta_prior", [(1.0,), (1.0, 2.0, 3.0), [[1.0, 1.0]], ("a", "b")])
def test_beta_prior_shape(no_kernels, beta_prior):
    with pytest.raises(ValueError, match=r"beta_prior must be a pair \(a, b\)"):
        BernoulliMixture(2, beta_prior=beta_prior).fit(_valid_X())


@pytest.mark.parametrize("prior,match", [
    (0.5, "weight_concentration_prior must be >= 1"),
    ([1.0, 0.9], "weight_concentration_prior must be >= 1"),
    ([2.0, np.nan], "weight_concentration_prior must be >= 1"),
    ([1.0, 1.0, 1.0], r"has shape \(3,\), expected a scalar or shape \(2,\)"),
    (["big", "small"], "must be a number or one number per component"),
])
def test_weight_concentration_prior_invalid(no_kernels, prior, match):
    with pytest.raises(ValueError, match=match):
        BernoulliMixture(2, weight_concentration_prior=prior).fit(_valid_X())


@pytest.mark.parametrize("params,match", [
    (dict(n_components=0), "'n_components' parameter"),
    (dict(n_components=1.5), "'n_components' parameter"),
    (dict(tol=-1), "'tol' parameter"),
    (dict(max_iter=-1), "'max_iter' parameter"),
    (dict(n_init=0), "'n_init' parameter"),
    (dict(init_params="kmeans"), "'init_params' parameter"),
    (dict(beta_prior=2.0), "'beta_prior' parameter"),
    (dict(weight_concentration_prior="big"), "'weight_concentration_prior' parameter"),
    (dict(warm_start="yes"), "'warm_start' parameter"),
    (dict(n_jobs=1.5), "'n_jobs' parameter"),
])
def test_invalid_parameters(no_kernels, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BernoulliMixture(**params).fit(_valid_X())


@pytest.mark.parametrize("n_samples", [0, -1, 2.5])
def test_sample_invalid_n_samples(fitted, n_samples):
    with pytest.raises(ValueError, match="at least one sample"):
        fitted.sample(n_samples)


# --------------------------------------------------------------------------
# scikit-learn API
# --------------------------------------------------------------------------

_SPARSE_CHECK_REASON = (
    "the check calls predict_proba and then reads tags.classifier_tags.multi_class, which is "
    "None for an estimator that is not a classifier (AttributeError). GaussianMixture never "
    "gets there because it rejects sparse input; fitting and predicting on every sparse format "
    "the check builds (CSR/CSC/COO/..., int32 and int64 indices) succeeds before that line, and "
    "sparse input is tested in this file (test_input_variants_identical).")


def _expected_failed_checks(estimator):
    return {"check_estimator_sparse_array": _SPARSE_CHECK_REASON,
            "check_estimator_sparse_matrix": _SPARSE_CHECK_REASON}


@parametrize_with_checks([BernoulliMixture(n_jobs=1),
                          BernoulliMixture(3, beta_prior=(2.0, 2.0), weight_concentration_prior=2.0,
                                           n_jobs=1)],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    with quiet():
        check(estimator)
