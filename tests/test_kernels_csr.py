"""Kernels of ``fastem._kernels.csr``, and the fused E+M pass of
``fastem._kernels.blocked`` (through ``run_em``), against the slow references
in ``reference.py``.

Tolerances: every kernel accumulates in float64 (float32 data are converted
exactly), so float32 and float64 data share ``RTOL = ATOL = 1e-12``. The
differences from the references are floating-point reassociation only (duplicate
entries summed before vs. after multiplying, chunk partial sums, fastmath
``reassoc``/``contract``), hence the same 1e-12 bound is used between runs with
different numbers of chunks/threads.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastem._base import make_blocks  # noqa: E402
from fastem._validation import CSR  # noqa: E402
from fastem._kernels.blocked import blocked_em_pass  # noqa: E402
from fastem._kernels.csr import (  # noqa: E402
    chunk_bounds,
    joint_log_likelihood,
    log_posterior,
    scatter_counts,
)
from reference import (  # noqa: E402
    dense_rows,
    ref_em_pass,
    ref_joint_log_likelihood,
    ref_log_posterior,
    ref_scatter_counts,
)

# float64 accumulation everywhere; differences are reassociation only.
RTOL = 1e-12
ATOL = 1e-12
NINF = -np.inf


def assert_close(actual, desired, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# CSR construction with explicit dtypes
# --------------------------------------------------------------------------

class Csr:
    """Raw CSR arrays with chosen dtypes, plus a SciPy matrix for the reference.

    Entries are stored exactly in the order given (unsorted, duplicates and
    stored zeros kept). The kernel gets ``data, indices, indptr`` from here,
    never from ``X`` (SciPy may downcast index arrays to int32).
    """

    def __init__(self, rows, n_features, data_dtype=np.float64, index_dtype=np.int64):
        data, indices, indptr = [], [], [0]
        for entries in rows:
            for w, v in entries:
                indices.append(w)
                data.append(v)
            indptr.append(len(indices))
        self.data = np.array(data, dtype=data_dtype)
        self.indices = np.array(indices, dtype=index_dtype)
        self.indptr = np.array(indptr, dtype=index_dtype)
        self.shape = (len(rows), n_features)
        self.X = sp.csr_matrix((self.data.copy(), self.indices.copy(), self.indptr.copy()),
                               shape=self.shape)

    @property
    def arrays(self):
        return self.data, self.indices, self.indptr

    def subset(self, keep):
        """The rows ``keep`` (a boolean mask) as a new Csr of the same dtypes."""
        rows = []
        for i in np.flatnonzero(keep):
            s, e = self.indptr[i], self.indptr[i + 1]
            rows.append(list(zip(self.indices[s:e].tolist(), self.data[s:e].tolist())))
        return Csr(rows, self.shape[1], self.data.dtype, self.indices.dtype)


# Fixed fixture: 7 words, 3 components.
#   word 2: impossible under component 2
#   word 3: all-zero column (never stored)
#   word 4: impossible under every component
#   word 5: impossible under components 0 and 1
#   word 6: impossible under every component, only ever stored as an explicit 0
N_FEATURES = 7
N_COMPONENTS = 3
ROWS = [
    [(1, 2.0), (0, 1.0), (2, 3.0)],              # 0 unsorted; jll[2] = -inf
    [],                                          # 1 empty
    [(0, 1.0), (5, 1.0), (0, 2.0)],              # 2 duplicate word 0; only comp 2 finite
    [(4, 0.0), (6, 0.0), (1, 1.5)],              # 3 stored zeros on impossible words
    [(4, 1.0), (0, 1.0)],                        # 4 impossible word: all -inf row
    [],                                          # 5 empty
    [(2, 1.0), (2, 0.5), (5, 0.0), (1, 4.0)],    # 6 duplicate on word 2, stored 0
    [(6, 0.0)],                                  # 7 only a stored zero: jll = prior
    [(1, 1.0), (0, 2.5), (1, 0.25)],             # 8 duplicate, unsorted
    [(5, 2.0), (1, 1.0)],                        # 9 only comp 2 finite
    [(0, 0.5), (1, 0.5), (2, 0.5), (5, 0.5)],    # 10 all -inf (word 2 and word 5)
    [(1, 0.75), (0, 0.25)],                      # 11 unsorted
]
ALL_NINF_ROWS = (4, 10)
EMPTY_ROWS = (1, 5)


def fixture_params():
    rng = np.random.default_rng(12345)
    log_prob = np.log(rng.dirichlet(np.ones(N_FEATURES), size=N_COMPONENTS).T).copy()
    log_prob[2, 2] = NINF
    log_prob[4, :] = NINF
    log_prob[5, 0:2] = NINF
    log_prob[6, :] = NINF
    log_prior = np.log(np.array([0.5, 0.3, 0.2]))
    return log_prior, np.ascontiguousarray(log_prob)


def random_csr(rng, n_rows, n_features, density, data_dtype, index_dtype):
    """Random non-negative CSR with stored zeros, duplicates and unsorted indices."""
    rows = []
    for _ in range(n_rows):
        nnz = rng.binomial(n_features, density)
        cols = rng.integers(0, n_features, size=nnz)  # with repetitions
        vals = rng.choice([0.0, 0.25, 1.0, 2.0, 3.0, 5.5], size=nnz)
        rows.append(list(zip(cols.tolist(), vals.tolist())))
    return Csr(rows, n_features, data_dtype, index_dtype)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

# data_dtype, index_dtype and n_threads come from conftest.py

@pytest.fixture
def csr(data_dtype, index_dtype):
    return Csr(ROWS, N_FEATURES, data_dtype, index_dtype)


@pytest.fixture
def params():
    return fixture_params()


# --------------------------------------------------------------------------
# kernel wrappers returning arrays
# --------------------------------------------------------------------------

def run_jll(c, log_prior, log_prob, bounds):
    out = np.full((c.shape[0], log_prob.shape[1]), np.nan)
    joint_log_likelihood(*c.arrays, log_prior, log_prob, bounds, out)
    return out


def run_posterior(jll):
    resp = np.full_like(jll, np.nan)
    log_norm = np.full(jll.shape[0], np.nan)
    log_posterior(jll, resp, log_norm)
    return resp, log_norm


def run_scatter(c, resp, weight, bounds):
    counts = np.full((c.shape[1], resp.shape[1]), np.nan)
    class_counts = np.full(resp.shape[1], np.nan)
    scatter_counts(*c.arrays, resp, weight, bounds, counts, class_counts)
    return counts, class_counts


def run_em(c, weight, labels, label_bounds, log_prior, log_prob, bounds, rows_per_block=3,
           n_hot=None):
    """The fused pass over ``c`` blocked ``rows_per_block`` rows at a time (3:
    several blocks and rounds on the fixture), with the M phase's columns split
    for ``len(bounds) - 1`` threads and ``n_hot`` hot words (default: every
    word of the small fixture)."""
    counts = np.full(log_prob.shape, np.nan)
    class_counts = np.full(log_prob.shape[1], np.nan)
    blocks = make_blocks(CSR(*c.arrays, c.shape), log_prob.shape[1], len(bounds) - 1, weight,
                         labels, label_bounds, rows_per_block=min(rows_per_block, 1 << 16),
                         n_hot=n_hot)
    obj = blocked_em_pass(blocks.rows_per_block, c.shape[0], *blocks[1:], weight, labels,
                          label_bounds, log_prior, log_prob, counts, class_counts)
    return obj, counts, class_counts


def _i64(x):
    return np.asarray(x, dtype=np.int64)


# --------------------------------------------------------------------------
# the fixture really has the awkward features
# --------------------------------------------------------------------------

def test_fixture_has_awkward_features():
    c = Csr(ROWS, N_FEATURES)
    assert not c.X.has_sorted_indices
    dense_nnz = (dense_rows(c.X) != 0).sum()
    assert c.X.nnz > dense_nnz  # stored zeros and/or duplicates
    assert np.any(c.data == 0)
    assert np.any(np.diff(c.indptr) == 0)
    assert np.all(dense_rows(c.X)[:, 3] == 0) and np.all(dense_rows(c.X)[:, 6] == 0)
    for i in range(c.shape[0]):
        idx = c.indices[c.indptr[i]:c.indptr[i + 1]]
        if len(np.unique(idx)) < len(idx):
            break
    else:
        pytest.fail("no duplicate entries in the fixture")


def test_reference_semantics_on_fixture():
    """Pin the documented conventions in the reference itself."""
    log_prior, log_prob = fixture_params()
    c = Csr(ROWS, N_FEATURES)
    jll = ref_joint_log_likelihood(c.X, log_prior, log_prob)
    for i in EMPTY_ROWS + (7,):
        np.testing.assert_array_equal(jll[i], log_prior)
    assert np.all(np.isfinite(jll[3]))
    for i in ALL_NINF_ROWS:
        assert np.all(jll[i] == NINF)
    resp, log_norm = ref_log_posterior(jll)
    for i in ALL_NINF_ROWS:
        assert log_norm[i] == NINF
        np.testing.assert_array_equal(resp[i], np.full(N_COMPONENTS, 1 / 3))
    assert not np.any(np.isnan(resp))


# --------------------------------------------------------------------------
# joint_log_likelihood
# --------------------------------------------------------------------------

def test_joint_log_likelihood(csr, params, n_threads):
    log_prior, log_prob = params
    bounds = chunk_bounds(csr.indptr, n_threads)
    got = run_jll(csr, log_prior, log_prob, bounds)
    want = ref_joint_log_likelihood(csr.X, log_prior, log_prob)
    assert_close(got, want)
    assert not np.any(np.isnan(got))
    # empty rows and a row holding only a stored zero (on an impossible word)
    for i in EMPTY_ROWS + (7,):
        np.testing.assert_array_equal(got[i], log_prior)
    # stored zeros on -inf words contribute nothing
    assert np.all(np.isfinite(got[3]))
    for i in ALL_NINF_ROWS:
        assert np.all(got[i] == NINF)


# --------------------------------------------------------------------------
# log_posterior
# --------------------------------------------------------------------------

def _posterior_input():
    log_prior, log_prob = fixture_params()
    jll = ref_joint_log_likelihood(Csr(ROWS, N_FEATURES).X, log_prior, log_prob)
    extra = np.array([[NINF, NINF, NINF],
                      [-1000.0, 0.0, 1000.0],        # extreme spread
                      [700.0, 710.0, NINF],          # would overflow without shift
                      [-745.0, -746.0, -800.0]])     # would underflow without shift
    return np.ascontiguousarray(np.vstack([jll, extra]))


def test_log_posterior(n_threads):
    jll = _posterior_input()
    jll_copy = jll.copy()
    resp, log_norm = run_posterior(jll)
    want_resp, want_norm = ref_log_posterior(jll)
    np.testing.assert_array_equal(jll, jll_copy)  # input untouched
    assert_close(resp, want_resp)
    assert_close(log_norm, want_norm)
    assert not np.any(np.isnan(resp))
    assert_close(resp.sum(axis=1), np.ones(len(resp)))


def test_log_posterior_in_place(n_threads):
    jll = _posterior_input()
    want_resp, want_norm = ref_log_posterior(jll)
    log_norm = np.full(jll.shape[0], np.nan)
    log_posterior(jll, jll, log_norm)  # resp is jll
    assert_close(jll, want_resp)
    assert_close(log_norm, want_norm)


@pytest.mark.parametrize("n_components", [1, 2, 5, 20, 100, 5000])
def test_log_posterior_over_many_chunks(n_components, n_threads):
    """Rows go through the posterior in chunks (256 rows, fewer for large K):
    every row of a table that spans several chunks, with a last partial one,
    -inf rows and rows with -inf entries among them."""
    rng = np.random.default_rng(n_components)
    n_rows = 1000 if n_components < 5000 else 11
    jll = rng.normal(-800.0, 40.0, size=(n_rows, n_components))
    jll[rng.random(jll.shape) < 0.2] = NINF
    jll[rng.integers(0, n_rows, size=5)] = NINF  # whole rows
    want_resp, want_norm = ref_log_posterior(jll)
    resp, log_norm = run_posterior(jll)
    assert_close(resp, want_resp)
    assert_close(log_norm, want_norm)
    assert_close(resp.sum(axis=1), np.ones(n_rows))


def test_log_posterior_empty_rows_give_prior(csr, params, n_threads):
    log_prior, log_prob = params
    bounds = chunk_bounds(csr.indptr, n_threads)
    resp, _ = run_posterior(run_jll(csr, log_prior, log_prob, bounds))
    for i in EMPTY_ROWS:
        assert_close(resp[i], np.exp(log_prior) / np.exp(log_prior).sum())


# --------------------------------------------------------------------------
# scatter_counts
# --------------------------------------------------------------------------

FIXTURE_WEIGHT = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 0.0, 1.5, 1.0, 0.0, 2.0, 1.0, 0.25])


def test_scatter_counts(csr, params, n_threads):
    log_prior, log_prob = params
    resp, _ = ref_log_posterior(ref_joint_log_likelihood(csr.X, log_prior, log_prob))
    weight = FIXTURE_WEIGHT.copy()
    resp[weight == 0] = np.nan  # skipped rows may hold anything
    bounds = chunk_bounds(csr.indptr, n_threads)
    counts, class_counts = run_scatter(csr, resp, weight, bounds)
    want_counts, want_class = ref_scatter_counts(csr.X, resp, weight)
    assert_close(counts, want_counts)
    assert_close(class_counts, want_class)
    assert np.all(np.isfinite(counts))
    np.testing.assert_array_equal(counts[[3, 6]], 0.0)  # all-zero columns


# --------------------------------------------------------------------------
# em_pass
# --------------------------------------------------------------------------

def test_em_pass_free_rows(csr, params, n_threads, n_hot):
    log_prior, log_prob = params
    n = csr.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    label_bounds = _i64([0, N_COMPONENTS])
    bounds = chunk_bounds(csr.indptr, n_threads)

    # all -inf rows weighted out: finite objective
    weight = FIXTURE_WEIGHT.copy()
    weight[list(ALL_NINF_ROWS)] = 0.0
    got = run_em(csr, weight, labels, label_bounds, log_prior, log_prob, bounds, n_hot=n_hot)
    want = ref_em_pass(csr.X, weight, labels, label_bounds, log_prior, log_prob)
    assert np.isfinite(got[0])
    for g, w in zip(got, want):
        assert_close(g, w)

    # all -inf rows weighted in: objective -inf, counts finite (uniform resp)
    weight = np.linspace(0.5, 2.0, n)
    got = run_em(csr, weight, labels, label_bounds, log_prior, log_prob, bounds, n_hot=n_hot)
    want = ref_em_pass(csr.X, weight, labels, label_bounds, log_prior, log_prob)
    assert got[0] == NINF
    assert_close(got[1], want[1])
    assert_close(got[2], want[2])
    assert np.all(np.isfinite(got[1])) and np.all(np.isfinite(got[2]))


def test_em_pass_matches_jll_posterior_scatter(csr, params, n_threads, n_hot):
    """Free rows: the fused pass equals the three separate kernels."""
    log_prior, log_prob = params
    n = csr.shape[0]
    weight = FIXTURE_WEIGHT.copy()
    bounds = chunk_bounds(csr.indptr, n_threads)
    jll = run_jll(csr, log_prior, log_prob, bounds)
    resp, log_norm = run_posterior(jll)
    counts, class_counts = run_scatter(csr, resp, weight, bounds)
    obj, c2, cc2 = run_em(csr, weight, np.full(n, -1, dtype=np.int64),
                          _i64([0, N_COMPONENTS]), log_prior, log_prob, bounds, n_hot=n_hot)
    assert_close(c2, counts)
    assert_close(cc2, class_counts)
    assert obj == NINF == np.sum(weight * log_norm)


# class 0 -> components {0, 1}; class 1 -> component {2}
LABEL_BOUNDS_2_1 = _i64([0, 2, 3])
LABELS_2_1 = _i64([-1, 0, 1, -1, -1, 1, 0, -1, 0, 1, -1, 0])


def test_em_pass_label_ranges(csr, params, n_threads, n_hot):
    log_prior, log_prob = params
    bounds = chunk_bounds(csr.indptr, n_threads)
    labels, label_bounds = LABELS_2_1, LABEL_BOUNDS_2_1

    # row 2 is labelled class 1 (component 2, finite); row 9 likewise. Row 0
    # (free, comp 2 -inf) is fine. Rows 4, 10 (free, all -inf) weighted out.
    weight = FIXTURE_WEIGHT.copy()
    weight[list(ALL_NINF_ROWS)] = 0.0
    got = run_em(csr, weight, labels, label_bounds, log_prior, log_prob, bounds, n_hot=n_hot)
    want = ref_em_pass(csr.X, weight, labels, label_bounds, log_prior, log_prob)
    assert np.isfinite(got[0])
    for g, w in zip(got, want):
        assert_close(g, w)

    # now row 2 labelled class 0: its allowed components {0, 1} are both -inf
    # (word 5) -> log p = -inf and uniform 1/2, 1/2 over {0, 1}.
    labels = labels.copy()
    labels[2] = 0
    only2 = np.zeros(csr.shape[0])
    only2[2] = 1.0
    got = run_em(csr, only2, labels, label_bounds, log_prior, log_prob, bounds, n_hot=n_hot)
    want = ref_em_pass(csr.X, only2, labels, label_bounds, log_prior, log_prob)
    assert got[0] == NINF
    assert_close(got[2], [0.5, 0.5, 0.0])
    assert_close(got[1], want[1])
    # word 0 appears twice in row 2 (1 + 2), word 5 once
    assert_close(got[1][0], [1.5, 1.5, 0.0])
    assert_close(got[1][5], [0.5, 0.5, 0.0])


def test_em_pass_labelled_rows_stay_in_range(csr, params, n_threads, n_hot):
    log_prior, log_prob = params
    bounds = chunk_bounds(csr.indptr, n_threads)
    n = csr.shape[0]
    # only rows labelled class 0 (components {0, 1}) carry weight
    labels = _i64([0] * n)
    got = run_em(csr, np.ones(n), labels, LABEL_BOUNDS_2_1, log_prior, log_prob, bounds, n_hot=n_hot)
    np.testing.assert_array_equal(got[1][:, 2], 0.0)
    assert got[2][2] == 0.0
    assert_close(got[2].sum(), float(n))


@pytest.mark.parametrize("free", [False, True], ids=["all-labelled", "mixed"])
def test_em_pass_one_component_per_class(csr, params, n_threads, n_hot, free):
    """One component per class: labelled rows are fixed one-hot rows whose
    log-likelihood is their class's jll."""
    log_prior, log_prob = params
    bounds = chunk_bounds(csr.indptr, n_threads)
    n = csr.shape[0]
    label_bounds = _i64([0, 1, 2, 3])
    labels = _i64(np.arange(n) % 3)
    if free:
        labels[[0, 3, 8]] = -1
    weight = FIXTURE_WEIGHT.copy()
    got = run_em(csr, weight, labels, label_bounds, log_prior, log_prob, bounds, n_hot=n_hot)
    want = ref_em_pass(csr.X, weight, labels, label_bounds, log_prior, log_prob)
    for g, w in zip(got, want):
        assert_close(g, w)
    if not free:
        # supervised counts: class_counts = weight per class
        assert_close(got[2], np.bincount(labels, weights=weight, minlength=3))


def test_em_pass_zero_weight_rows_contribute_nothing(csr, params, n_threads, n_hot):
    log_prior, log_prob = params
    n = csr.shape[0]
    labels = LABELS_2_1.copy()
    labels[2] = 0  # a labelled all -inf row ...
    weight = FIXTURE_WEIGHT.copy()
    weight[[2, 4, 10, 11]] = 0.0  # ... and the free all -inf rows, weighted out
    bounds = chunk_bounds(csr.indptr, n_threads)
    got = run_em(csr, weight, labels, LABEL_BOUNDS_2_1, log_prior, log_prob, bounds, n_hot=n_hot)
    assert np.isfinite(got[0])

    keep = weight != 0
    sub = csr.subset(keep)
    sub_got = run_em(sub, weight[keep], labels[keep], LABEL_BOUNDS_2_1, log_prior, log_prob,
                     chunk_bounds(sub.indptr, n_threads), n_hot=n_hot)
    for g, s in zip(got, sub_got):
        assert_close(g, s)
    want = ref_em_pass(csr.X, weight, labels, LABEL_BOUNDS_2_1, log_prior, log_prob)
    for g, w in zip(got, want):
        assert_close(g, w)

    zero = run_em(csr, np.zeros(n), labels, LABEL_BOUNDS_2_1, log_prior, log_prob, bounds, n_hot=n_hot)
    assert zero[0] == 0.0
    np.testing.assert_array_equal(zero[1], 0.0)
    np.testing.assert_array_equal(zero[2], 0.0)


# --------------------------------------------------------------------------
# chunking: 1 vs several chunks
# --------------------------------------------------------------------------

def test_chunk_counts_agree(data_dtype, index_dtype):
    """Results depend on the number of chunks only through reassociation
    (rtol 1e-12); extra chunks (more than threads, more than rows) too."""
    rng = np.random.default_rng(7)
    n_rows, n_features, k = 150, 40, 4
    c = random_csr(rng, n_rows, n_features, 0.15, data_dtype, index_dtype)
    log_prob = np.log(rng.dirichlet(np.ones(n_features), size=k).T).copy()
    log_prob[rng.random(log_prob.shape) < 0.05] = NINF
    log_prior = np.log(rng.dirichlet(np.ones(k)))
    weight = rng.choice([0.0, 0.5, 1.0, 2.0], size=n_rows)
    labels = rng.integers(-1, 2, size=n_rows).astype(np.int64)
    label_bounds = _i64([0, 3, 4])

    results = {}
    previous = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        for n_chunks in (1, 2, 3, 8, n_rows + 5):
            bounds = chunk_bounds(c.indptr, n_chunks)
            jll = run_jll(c, log_prior, log_prob, bounds)
            resp, log_norm = run_posterior(jll)
            sc = run_scatter(c, resp, weight, bounds)
            em = run_em(c, weight, labels, label_bounds, log_prior, log_prob, bounds)
            results[n_chunks] = (jll, resp, log_norm, *sc, *em)
    finally:
        numba.set_num_threads(previous)

    first = results[1]
    for n_chunks, res in results.items():
        for a, b in zip(res, first):
            assert_close(a, b)  # rtol 1e-12: reassociation only
    # and against the reference
    jll, resp, log_norm, counts, class_counts, obj, em_counts, em_class = first
    assert_close(jll, ref_joint_log_likelihood(c.X, log_prior, log_prob))
    want_resp, want_norm = ref_log_posterior(jll)
    assert_close(resp, want_resp)
    assert_close(log_norm, want_norm)
    for g, w in zip((counts, class_counts), ref_scatter_counts(c.X, resp, weight)):
        assert_close(g, w)
    want = ref_em_pass(c.X, weight, labels, label_bounds, log_prior, log_prob)
    for g, w in zip((obj, em_counts, em_class), want):
        assert_close(g, w)


# --------------------------------------------------------------------------
# chunk_bounds
# --------------------------------------------------------------------------

def check_chunk_bounds(indptr, n_chunks):
    indptr = np.asarray(indptr)
    n_rows = len(indptr) - 1
    b = chunk_bounds(indptr, n_chunks)
    assert b.dtype == np.int64
    assert len(b) == max(1, n_chunks) + 1
    assert b[0] == 0 and b[-1] == n_rows
    assert np.all(np.diff(b) >= 0)
    # balance: row cost = nnz + 1; each chunk is within one row's cost of the ideal
    row_cost = np.diff(indptr.astype(np.int64)) + 1
    cum = np.concatenate([[0], np.cumsum(row_cost)])
    if n_rows:
        ideal = cum[-1] / max(1, n_chunks)
        chunk_cost = cum[b[1:]] - cum[b[:-1]]
        assert np.all(np.abs(chunk_cost - ideal) <= row_cost.max() + 1e-9), (b, chunk_cost)
    return b


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_chunk_bounds_examples(index_dtype):
    indptr = np.array([0, 0, 0, 10, 10, 11, 30, 30, 30, 31], dtype=index_dtype)
    for n in range(1, 12):
        check_chunk_bounds(indptr, n)
    # uniform rows split evenly
    b = check_chunk_bounds(np.arange(0, 101, 1, dtype=index_dtype) * 3, 4)
    np.testing.assert_array_equal(b, [0, 25, 50, 75, 100])
    # empty rows only are balanced too
    b = check_chunk_bounds(np.zeros(11, dtype=index_dtype), 2)
    np.testing.assert_array_equal(b, [0, 5, 10])
    # no rows, more chunks than rows
    np.testing.assert_array_equal(chunk_bounds(np.zeros(1, dtype=index_dtype), 3), [0, 0, 0, 0])
    b = check_chunk_bounds(np.array([0, 5, 6], dtype=index_dtype), 5)
    assert b[-1] == 2


@settings(deadline=None, max_examples=60)
@given(row_nnz=st.lists(st.integers(0, 50), max_size=40), n_chunks=st.integers(1, 9))
def test_chunk_bounds_property(row_nnz, n_chunks):
    indptr = np.concatenate([[0], np.cumsum(row_nnz, dtype=np.int64)])
    check_chunk_bounds(indptr, n_chunks)


# --------------------------------------------------------------------------
# hypothesis: random small problems vs the reference
# --------------------------------------------------------------------------

VALUES = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 7.5]


@st.composite
def problems(draw):
    n_rows = draw(st.integers(0, 7))
    n_features = draw(st.integers(1, 6))
    k = draw(st.integers(1, 4))
    entries = draw(st.lists(
        st.tuples(st.integers(0, max(n_rows - 1, 0)), st.integers(0, n_features - 1),
                  st.sampled_from(VALUES)),
        max_size=25 if n_rows else 0))
    rows = [[] for _ in range(n_rows)]
    for r, w, v in entries:  # keep drawn order inside a row: unsorted, duplicates
        rows[r].append((w, v))
    data_dtype = draw(st.sampled_from([np.float32, np.float64]))
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    c = Csr(rows, n_features, data_dtype, index_dtype)

    lp = draw(st.lists(st.floats(-6.0, 0.0), min_size=n_features * k,
                       max_size=n_features * k))
    ninf = draw(st.lists(st.sampled_from([False, False, False, True]),
                         min_size=n_features * k, max_size=n_features * k))
    log_prob = np.where(ninf, NINF, lp).reshape(n_features, k).copy()
    log_prior = np.array(draw(st.lists(
        st.one_of(st.floats(-4.0, 0.0), st.just(NINF)), min_size=k, max_size=k)))
    weight = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5]),
                                    min_size=n_rows, max_size=n_rows)))
    cuts = sorted(draw(st.sets(st.integers(1, k - 1), max_size=k - 1))) if k > 1 else []
    label_bounds = _i64([0, *cuts, k])
    n_classes = len(label_bounds) - 1
    labels = _i64(draw(st.lists(st.integers(-1, n_classes - 1),
                                min_size=n_rows, max_size=n_rows)))
    n_chunks = draw(st.integers(1, 4))
    return c, log_prior, log_prob, weight, labels, label_bounds, n_chunks


HYP = settings(deadline=None, max_examples=30)


@HYP
@given(problems())
def test_hyp_joint_log_likelihood(problem):
    c, log_prior, log_prob, _, _, _, n_chunks = problem
    got = run_jll(c, log_prior, log_prob, chunk_bounds(c.indptr, n_chunks))
    assert_close(got, ref_joint_log_likelihood(c.X, log_prior, log_prob))
    assert not np.any(np.isnan(got))


@HYP
@given(problems())
def test_hyp_log_posterior(problem):
    c, log_prior, log_prob, *_ = problem
    jll = ref_joint_log_likelihood(c.X, log_prior, log_prob)
    want_resp, want_norm = ref_log_posterior(jll)
    resp, log_norm = run_posterior(jll)
    assert_close(resp, want_resp)
    assert_close(log_norm, want_norm)
    log_posterior(jll, jll, log_norm)  # in place
    assert_close(jll, want_resp)
    assert_close(log_norm, want_norm)


@HYP
@given(problems())
def test_hyp_scatter_counts(problem):
    c, log_prior, log_prob, weight, _, _, n_chunks = problem
    resp, _ = ref_log_posterior(ref_joint_log_likelihood(c.X, log_prior, log_prob))
    resp[weight == 0] = np.nan
    got = run_scatter(c, resp, weight, chunk_bounds(c.indptr, n_chunks))
    for g, w in zip(got, ref_scatter_counts(c.X, resp, weight)):
        assert_close(g, w)


@HYP
@given(problems(), st.integers(1, 5), st.sampled_from([0, 1, 3, None]))
def test_hyp_em_pass(problem, rows_per_block, n_hot):
    c, log_prior, log_prob, weight, labels, label_bounds, n_chunks = problem
    got = run_em(c, weight, labels, label_bounds, log_prior, log_prob,
                 chunk_bounds(c.indptr, n_chunks), rows_per_block, n_hot)
    want = ref_em_pass(c.X, weight, labels, label_bounds, log_prior, log_prob)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    assert_close(got[2], want[2])


@pytest.mark.parametrize("n_slices", [1, 2, 7])
@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_count_invalid_entries_matches_reference(n_slices, data_dtype, index_dtype):
    from fastem._kernels.csr import count_invalid_entries
    from reference import ref_count_invalid_entries

    rng = np.random.default_rng(n_slices)
    data = rng.random(500).astype(data_dtype)
    indices = rng.integers(0, 40, size=500).astype(index_dtype)
    assert list(count_invalid_entries(data, indices, 40, n_slices)) == [0, 0, 0]
    data[[3, 50, 499]] = [np.nan, np.inf, -np.inf]
    data[[10, 11]] = -0.5
    data[12] = -0.0  # negative zero is not negative
    indices[[0, 7, 8]] = [-1, 40, 10**6 % 2**31]
    got = count_invalid_entries(data, indices, 40, n_slices)
    assert list(got) == list(ref_count_invalid_entries(data, indices, 40)) == [3, 3, 2]
    empty = count_invalid_entries(data[:0], indices[:0], 40, n_slices)
    assert list(empty) == [0, 0, 0]


def test_row_sums_xlogx_match_reference(data_dtype, n_threads):
    from fastem._kernels.csr import row_sums_xlogx
    from reference import ref_row_sums_xlogx

    c = Csr(ROWS, N_FEATURES)  # stored zeros, duplicates (taken apart), empty rows
    rng = np.random.default_rng(4)
    X = sp.random(300, 50, density=0.2, format="csr", random_state=5, dtype=np.float64)
    X.data = rng.choice([1.0, 2.0, 3.0, 0.5, 1e-300, 7.25], size=X.nnz)
    for data, indptr in ((c.data, c.indptr), (X.data, X.indptr)):
        data = data.astype(data_dtype)
        lengths = np.full(indptr.shape[0] - 1, np.nan)
        xlogx = np.full_like(lengths, np.nan)
        row_sums_xlogx(data, indptr, lengths, xlogx)
        want_lengths, want_xlogx = ref_row_sums_xlogx(data, indptr)
        np.testing.assert_allclose(lengths, want_lengths, rtol=1e-14, atol=0)
        np.testing.assert_allclose(xlogx, want_xlogx, rtol=1e-13, atol=1e-300)


# --------------------------------------------------------------------------
# grouped_counts (the supervised count pass, through _base.assignment_counts)
# --------------------------------------------------------------------------

def _grouped(c, components, weight, n_components):
    from fastem._base import EMData, assignment_counts
    from fastem._validation import CSR

    # no row chunks or blocked copy: the grouped count pass reads neither
    data = EMData(CSR(*c.arrays, c.shape), None, weight, None, None, c.shape[0], None)
    return assignment_counts(data, components, n_components)


@pytest.mark.parametrize("seed", range(3))
def test_grouped_counts_match_reference(data_dtype, index_dtype, n_threads, seed):
    rng = np.random.default_rng(seed)
    c = random_csr(rng, 40, 9, 0.3, data_dtype, index_dtype)
    n_components = 4
    components = rng.integers(-1, n_components, size=40)  # -1: left out
    components[:3] = 2  # an uneven split, and component 3 may be empty
    weight = rng.choice([0.0, 0.5, 1.0, 2.0], size=40)
    counts, class_counts = _grouped(c, components, weight, n_components)
    resp = np.zeros((40, n_components))
    kept = components >= 0
    resp[np.flatnonzero(kept), components[kept]] = 1.0
    want_counts, want_class = ref_scatter_counts(c.X, resp, weight)
    assert counts.flags.c_contiguous
    assert_close(counts, want_counts)
    assert_close(class_counts, want_class)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_grouped_counts_bitwise_thread_independent():
    rng = np.random.default_rng(7)
    c = random_csr(rng, 300, 50, 0.2, np.float64, np.int32)
    components = rng.integers(0, 5, size=300)
    weight = rng.random(300)
    results = []
    previous = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            results.append(_grouped(c, components, weight, 5))
    finally:
        numba.set_num_threads(previous)
    assert len(results) == 2
    for counts, class_counts in results[1:]:
        assert np.array_equal(counts, results[0][0])
        assert np.array_equal(class_counts, results[0][1])
