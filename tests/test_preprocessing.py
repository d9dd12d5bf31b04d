"""Tests of :class:`fastem.DocumentNormalizer` (Rennie et al. 2003, §4).

Expected values come from ``reference.ref_document_normalizer`` (dense loops
over rows, written independently of the library) or are worked out by hand in
the test.

Tolerances: the library and the reference both compute in float64 and differ
only in the order of operations (the library divides each row by its largest
value before normalising; ``log1p`` against ``log(1 + x)``), so
``RTOL = ATOL = 1e-12``.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import DocumentNormalizer, NaiveBayesEM
from fastem.datasets import make_corpus
from reference import ref_document_normalizer

RTOL = 1e-12
ATOL = 1e-12
NORMS = ["l1", "l2", None]


def assert_canonical_output(Xt, shape):
    """A float64 CSR with sorted indices, no duplicates, no stored zeros, no NaN."""
    assert sp.issparse(Xt) and Xt.format == "csr"
    assert Xt.shape == shape
    assert Xt.data.dtype == np.float64
    assert Xt.has_canonical_format
    assert np.all(Xt.data != 0), "stored zeros left in the output"
    assert np.all(np.isfinite(Xt.data))


def csr_arrays(X):
    """Copies of the arrays of a sparse matrix, to check it was not modified."""
    return X.data.copy(), X.indices.copy(), X.indptr.copy()


def assert_unchanged(X, arrays):
    for got, want in zip((X.data, X.indices, X.indptr), arrays):
        assert got.dtype == want.dtype
        assert_array_equal(got, want)


# --------------------------------------------------------------------------
# hypothesis: random sparse counts vs the reference
# --------------------------------------------------------------------------

#: counts with stored zeros (0.0), fractional weights and one large count
VALUES = [0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.0, 17.0, 1e6]


@st.composite
def count_matrices(draw, n_features):
    """A CSR matrix of counts in drawn order: unsorted indices, duplicate
    entries, stored zeros, empty rows, all-zero columns; float32, float64 or
    int64 data and int32 or int64 indices."""
    n_rows = draw(st.integers(1, 7))
    entries = draw(st.lists(
        st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_features - 1),
                  st.sampled_from(VALUES)),
        max_size=30))
    rows = [[] for _ in range(n_rows)]
    for r, j, v in entries:
        rows[r].append((j, v))
    data_dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(index_dtype)
    indices = np.array([j for r in rows for j, _ in r], dtype=index_dtype)
    data = np.array([v for r in rows for _, v in r], dtype=data_dtype)
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_features))


@st.composite
def fit_and_transform(draw):
    """Two count matrices with the same number of columns."""
    n_features = draw(st.integers(1, 6))
    return draw(count_matrices(n_features)), draw(count_matrices(n_features))


HYP = settings(deadline=None, max_examples=25)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("idf", [False, True], ids=["no-idf", "idf"])
@pytest.mark.parametrize("log_tf", [False, True], ids=["no-log", "log"])
@HYP
@given(matrices=fit_and_transform(), length=st.sampled_from([0.5, 1.0, 10.0]))
def test_hyp_matches_reference(log_tf, idf, norm, matrices, length):
    X_fit, X = matrices
    before_fit, before = csr_arrays(X_fit), csr_arrays(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero or invalid-value warnings
        model = DocumentNormalizer(log_tf=log_tf, idf=idf, norm=norm, length=length).fit(X_fit)
        Xt = model.transform(X)
        Xt_fit = model.fit_transform(X_fit)
    assert_unchanged(X_fit, before_fit)
    assert_unchanged(X, before)
    for got, source in ((Xt, X), (Xt_fit, X_fit)):
        assert_canonical_output(got, source.shape)
        want = ref_document_normalizer(X_fit, source, log_tf, idf, norm, length)
        assert_allclose(got.toarray(), want, rtol=RTOL, atol=ATOL)
        assert not np.shares_memory(got.data, source.data)


# --------------------------------------------------------------------------
# hand-made cases
# --------------------------------------------------------------------------

def test_values_by_hand():
    # counts [1, 3]: log(1 + x) = [log 2, 2 log 2]; l1 to length 3 gives [1, 2]
    X = sp.csr_matrix(np.array([[1.0, 3.0]]))
    Xt = DocumentNormalizer(idf=False, norm="l1", length=3.0).fit_transform(X)
    assert_allclose(Xt.toarray(), [[1.0, 2.0]], rtol=RTOL)
    # raw counts [3, 4] have Euclidean norm 5; l2 to length 10 gives [6, 8]
    X = sp.csr_matrix(np.array([[3.0, 4.0]]))
    Xt = DocumentNormalizer(log_tf=False, idf=False, norm="l2", length=10.0).fit_transform(X)
    assert_allclose(Xt.toarray(), [[6.0, 8.0]], rtol=RTOL)


def test_idf_by_hand():
    # 4 documents; df = [2, 1, 4, 0]
    X = sp.csr_matrix(np.array([[1, 0, 2, 0],
                                [5, 0, 1, 0],
                                [0, 1, 1, 0],
                                [0, 0, 3, 0]], dtype=np.float64))
    model = DocumentNormalizer().fit(X)
    assert model.idf_.dtype == np.float64 and model.idf_.shape == (4,)
    assert_allclose(model.idf_, [np.log(2), np.log(4), 0.0, np.log(4)], rtol=RTOL)
    assert model.n_features_in_ == 4
    # no log, no norm: the counts times the idf
    Xt = DocumentNormalizer(log_tf=False, norm=None).fit(X).transform(X)
    assert_allclose(Xt.toarray(), X.toarray() * [np.log(2), np.log(4), 0, np.log(4)], rtol=RTOL)


def test_fit_on_one_matrix_transform_another():
    X_fit = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0]], dtype=np.float64))  # df = [1, 2, 0]
    X = sp.csr_matrix(np.array([[2, 5, 0], [0, 0, 4]], dtype=np.float64))
    Xt = DocumentNormalizer(log_tf=False, norm=None).fit(X_fit).transform(X)
    # column 1 is in every fitted document (idf 0); column 2 in none (idf log 2)
    assert_allclose(Xt.toarray(), [[2 * np.log(2), 0, 0], [0, 0, 4 * np.log(2)]], rtol=RTOL)
    assert Xt.nnz == 2


@pytest.mark.parametrize("norm", NORMS)
def test_empty_rows_stay_empty(norm):
    # word 0 is in every fitted document (idf 0), so the rows holding only
    # word 0 become all-zero; an empty row is inserted at position 1
    X = sp.csr_matrix(np.array([[1, 2, 0],
                                [1, 0, 0],
                                [1, 0, 3],
                                [4, 0, 0]], dtype=np.float64))
    X_with_empty = sp.vstack([X[:1], sp.csr_matrix((1, 3)), X[1:]]).tocsr()
    model = DocumentNormalizer(norm=norm).fit(X)  # word 0 in every document: idf 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Xt = model.transform(X_with_empty)
    assert_canonical_output(Xt, (5, 3))
    # the empty row and the rows made only of word 0 are empty, not NaN
    assert_array_equal(np.diff(Xt.indptr), [1, 0, 0, 1, 0])
    if norm == "l1":
        assert_allclose(Xt.sum(axis=1).A1, [10, 0, 0, 10, 0], rtol=RTOL)
    want = ref_document_normalizer(X, X_with_empty, True, True, norm, 10.0)
    assert_allclose(Xt.toarray(), want, rtol=RTOL, atol=ATOL)


def test_all_rows_empty():
    X = sp.csr_matrix((3, 4))
    model = DocumentNormalizer().fit(X)
    assert_allclose(model.idf_, np.log(3), rtol=RTOL)
    Xt = model.transform(X)
    assert_canonical_output(Xt, (3, 4))
    assert Xt.nnz == 0


def test_explicit_stored_zeros_do_not_count():
    # column 0 holds a stored zero in row 1: df = [1, 2], not [2, 2]
    X = sp.csr_matrix((np.array([2.0, 1.0, 0.0, 3.0]), np.array([0, 1, 0, 1]),
                       np.array([0, 2, 4])), shape=(2, 2))
    assert X.nnz == 4
    model = DocumentNormalizer(norm=None).fit(X)
    assert_allclose(model.idf_, [np.log(2), 0.0], rtol=RTOL)
    Xt = model.transform(X)
    # word 1 (idf 0) and the stored zero are gone
    assert_canonical_output(Xt, (2, 2))
    assert_array_equal(Xt.indptr, [0, 1, 1])
    assert_allclose(Xt.data, [np.log(3) * np.log(2)], rtol=RTOL)


def test_duplicate_entries_count_as_their_sum():
    # row 0 stores column 1 twice (1 + 2) and in reverse order
    X = sp.csr_matrix((np.array([1.0, 2.0, 4.0, 5.0]), np.array([1, 1, 0, 2]),
                       np.array([0, 3, 4])), shape=(2, 3))
    summed = sp.csr_matrix(np.array([[4.0, 3.0, 0.0], [0.0, 0.0, 5.0]]))
    model = DocumentNormalizer(norm="l2")
    assert_allclose(model.fit(X).idf_, [np.log(2), np.log(2), np.log(2)], rtol=RTOL)
    assert_allclose(model.fit_transform(X).toarray(), model.fit_transform(summed).toarray(),
                    rtol=RTOL)


def test_all_zero_columns():
    X_fit = sp.csr_matrix(np.array([[1, 0, 0, 2], [3, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64))
    model = DocumentNormalizer(norm="l1").fit(X_fit)
    # never seen: the weight of a word in one document out of three
    assert_allclose(model.idf_[1:3], np.log(3), rtol=RTOL)
    Xt = model.transform(X_fit)
    assert Xt[:, 1:3].nnz == 0
    assert_allclose(Xt.sum(axis=1).A1, 10.0, rtol=RTOL)
    # a new document with an unseen word
    X = sp.csr_matrix(np.array([[0, 0, 1, 0]], dtype=np.float64))
    assert_allclose(DocumentNormalizer(norm=None).fit(X_fit).transform(X).toarray(),
                    [[0, 0, np.log(2) * np.log(3), 0]], rtol=RTOL)


@pytest.mark.parametrize("norm", NORMS)
def test_word_in_every_document_drops_out(norm):
    X, _, _ = make_corpus(n_samples=50, n_features=30, n_classes=2, random_state=0)
    X = X.tolil()
    X[:, 7] = 2.0  # word 7 in every document
    X = X.tocsr()
    model = DocumentNormalizer(norm=norm).fit(X)
    assert model.idf_[7] == 0.0
    Xt = model.transform(X)
    assert Xt[:, 7].nnz == 0
    assert_canonical_output(Xt, X.shape)
    assert_allclose(Xt.toarray(), ref_document_normalizer(X, X, True, True, norm, 10.0),
                    rtol=RTOL, atol=ATOL)
    if norm is not None:
        lengths = Xt.sum(axis=1).A1 if norm == "l1" else np.sqrt(Xt.multiply(Xt).sum(axis=1).A1)
        assert_allclose(lengths, 10.0, rtol=RTOL)


@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc", "coo", "dense", "list",
                                  "float32", "int", "readonly"])
def test_input_not_modified(kind):
    X = sp.csr_matrix((np.array([3.0, 0.0, 1.0, 2.0, 1.0]), np.array([2, 0, 2, 1, 0]),
                       np.array([0, 3, 3, 5])), shape=(3, 4))  # unsorted, duplicate, stored zero
    dense = X.toarray()
    make = {
        "csr_matrix": lambda: X.copy(),
        "csr_array": lambda: sp.csr_array(X.copy()),
        "csc": lambda: X.tocsc(),
        "coo": lambda: X.tocoo(),
        "dense": lambda: dense.copy(),
        "list": lambda: dense.tolist(),
        "float32": lambda: sp.csr_matrix(X, dtype=np.float32),
        "int": lambda: sp.csr_matrix(X, dtype=np.int64),
        "readonly": lambda: X.copy(),
    }
    Xin = make[kind]()
    if kind == "readonly":
        for a in (Xin.data, Xin.indices, Xin.indptr):
            a.flags.writeable = False
    if sp.issparse(Xin):
        fmt = Xin.format
        before = (Xin.copy(),) + tuple(np.copy(a) for a in _arrays(Xin))
    else:
        before = (np.array(Xin, copy=True),)
    Xt = DocumentNormalizer().fit(Xin).transform(Xin)
    want = ref_document_normalizer(dense, dense, True, True, "l1", 10.0)
    assert_allclose(Xt.toarray(), want, rtol=RTOL, atol=ATOL)  # values exact in float32 too
    assert_canonical_output(Xt, (3, 4))
    if sp.issparse(Xin):
        assert Xin.format == fmt
        for got, original in zip(_arrays(Xin), before[1:]):
            assert_array_equal(got, original)
            assert not np.shares_memory(Xt.data, got)
    else:
        assert_array_equal(np.asarray(Xin), before[0])
    # the sparse flavour follows the input; dense input gives a csr_matrix
    assert isinstance(Xt, sp.csr_array if kind == "csr_array" else sp.csr_matrix)


def _arrays(X):
    if X.format == "coo":
        return X.data, X.row, X.col
    return X.data, X.indices, X.indptr


def test_dense_and_sparse_input_agree():
    X, _, _ = make_corpus(n_samples=40, n_features=25, n_classes=2, random_state=1)
    for norm in NORMS:
        model = DocumentNormalizer(norm=norm, length=3.0)
        from_dense = model.fit(X.toarray()).transform(X.toarray())
        assert isinstance(from_dense, sp.csr_matrix)
        assert_allclose(from_dense.toarray(), model.fit(X).transform(X).toarray(), rtol=RTOL)


def test_extreme_values_are_finite():
    # huge counts overflow float64 when multiplied by an idf > 1 (column 2:
    # log 8) or summed, and tiny ones underflow when squared, unless each row
    # is first divided by its largest value
    X = sp.csr_matrix(np.array([[1e308, 1e308, 0.0],
                                [1e-200, 1e-200, 0.0],
                                [0.0, 1e308, 1e308]] + [[0.0, 1.0, 0.0]] * 5))
    for norm in ("l1", "l2"):
        Xt = DocumentNormalizer(log_tf=False, norm=norm, length=10.0).fit(X).transform(X)
        assert_canonical_output(Xt, X.shape)
        # column 1 is in every document (idf 0): rows 3 to 7 become empty
        want = np.zeros(X.shape)
        want[0, 0] = want[1, 0] = want[2, 2] = 10.0
        assert_allclose(Xt.toarray(), want, rtol=RTOL)
        Xt = DocumentNormalizer(log_tf=False, idf=False, norm=norm).fit(X).transform(X)
        v = 5.0 if norm == "l1" else 10.0 / np.sqrt(2)
        assert_allclose(Xt[:3].toarray(), [[v, v, 0], [v, v, 0], [0, v, v]], rtol=RTOL)
        assert_allclose(Xt[3:].toarray(), [[0, 10.0, 0]] * 5, rtol=RTOL)
    # the row's largest value has idf 0 and what is left is tiny: its square
    # underflows unless the row is divided by its largest value again
    X = sp.csr_matrix(np.array([[1.0, 1e-200], [1.0, 0.0]]))
    for norm in ("l1", "l2"):
        Xt = DocumentNormalizer(norm=norm).fit_transform(X)
        assert_allclose(Xt.toarray(), [[0.0, 10.0], [0.0, 0.0]], rtol=RTOL)


@pytest.mark.parametrize("log_tf", [False, True])
@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_subnormal_values_are_scaled_not_inverted(log_tf, norm):
    # 1 / 1e-320 overflows to inf, and inf times the row's values gave NaN
    X = sp.csr_matrix(np.array([[1e-320, 2e-320, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    Xt = DocumentNormalizer(log_tf=log_tf, idf=False, norm=norm, length=3.0).fit_transform(X)
    assert_canonical_output(Xt, X.shape)
    ratio = np.array([1.0, 2.0])
    row = 3.0 * ratio / (ratio.sum() if norm == "l1" else np.sqrt((ratio ** 2).sum()))
    assert_allclose(Xt[0].toarray()[0, :2], row, rtol=1e-12)


def test_set_params_after_fit_uses_new_switches():
    X, _, _ = make_corpus(n_samples=20, n_features=10, n_classes=2, random_state=2)
    model = DocumentNormalizer().fit(X)
    model.set_params(idf=False, log_tf=False, norm="l2", length=2.0)
    assert_allclose(model.transform(X).toarray(),
                    ref_document_normalizer(X, X, False, False, "l2", 2.0), rtol=RTOL)


def test_feature_names_out():
    model = DocumentNormalizer().fit(sp.csr_matrix(np.eye(3)))
    assert_array_equal(model.get_feature_names_out(), ["x0", "x1", "x2"])
    assert_array_equal(model.get_feature_names_out(["a", "b", "c"]), ["a", "b", "c"])


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------

def _valid_X():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0],
                                   [0.0, 3.0, 0.0, 1.0],
                                   [4.0, 0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_negative_values(dense, method):
    X = _valid_X()
    X.data[1] = -1.0
    X = X.toarray() if dense else X
    model = DocumentNormalizer().fit(_valid_X())
    with pytest.raises(ValueError, match="Negative values"):
        getattr(model, method)(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("method", ["fit", "transform"])
def test_nan_and_inf(bad, dense, method):
    X = _valid_X()
    X.data[0] = bad
    X = X.toarray() if dense else X
    model = DocumentNormalizer().fit(_valid_X())
    with pytest.raises(ValueError, match="NaN or infinity"):
        getattr(model, method)(X)


@pytest.mark.parametrize("n_columns", [3, 5])
def test_wrong_number_of_columns(n_columns):
    model = DocumentNormalizer().fit(_valid_X())
    X = sp.random(2, n_columns, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match=f"X has {n_columns} features, but DocumentNormalizer "
                                         "is expecting 4 features"):
        model.transform(X)


@pytest.mark.parametrize("X, match", [
    (np.array([1.0, 2.0]), "Expected a 2-D array"),
    (np.ones((2, 2, 2)), "Expected a 2-D array"),
    (np.zeros((0, 3)), "0 sample"),
    (np.zeros((3, 0)), "0 feature"),
    ("text", "must be a scipy.sparse matrix or a 2-D array"),
])
def test_bad_shapes(X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DocumentNormalizer().fit(X)


@pytest.mark.parametrize("params, match", [
    (dict(norm="l3"), "'norm' parameter"),
    (dict(norm="max"), "'norm' parameter"),
    (dict(length=0), "'length' parameter"),
    (dict(length=-1.0), "'length' parameter"),
    (dict(length=np.inf), "'length' parameter"),
    (dict(length=np.nan), "'length' parameter"),
    (dict(length="10"), "'length' parameter"),
    (dict(log_tf="yes"), "'log_tf' parameter"),
    (dict(log_tf=1), "'log_tf' parameter"),
    (dict(idf=None), "'idf' parameter"),
])
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        DocumentNormalizer(**params).fit(_valid_X())
    # checked in transform too, and before the data (which is invalid here)
    model = DocumentNormalizer().fit(_valid_X()).set_params(**params)
    with pytest.raises(ValueError, match=match):
        model.transform(np.full((2, 4), np.nan))


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        DocumentNormalizer().transform(_valid_X())


# --------------------------------------------------------- scikit-learn API
@parametrize_with_checks([DocumentNormalizer(),
                          DocumentNormalizer(log_tf=False, idf=False, norm="l2", length=1.0),
                          DocumentNormalizer(norm=None)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_pipeline_with_naive_bayes_em():
    X, y, _ = make_corpus(n_samples=600, n_features=300, n_classes=3, random_state=0)
    y_partial = y.copy()
    y_partial[30:] = -1  # 30 labelled rows, 570 unlabelled
    pipe = make_pipeline(DocumentNormalizer(), NaiveBayesEM(alpha=0.03, random_state=0))
    pipe.fit(X, y_partial)
    pred = pipe.predict(X)
    assert pred.shape == y.shape
    assert set(np.unique(pred)) <= {0, 1, 2}
    assert np.mean(pred == y) > 0.8
    assert pipe.predict_proba(X[:5]).shape == (5, 3)
    # the classifier saw the transformed matrix: n_features unchanged, rows of sum 10
    assert pipe[-1].n_features_in_ == 300
    assert_allclose(pipe[0].transform(X).sum(axis=1).A1, 10.0, rtol=RTOL)
