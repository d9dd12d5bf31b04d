"""Invalid input to :class:`fastem.NaiveBayesEM` is rejected with ValueError or
TypeError (message checked), before any Numba kernel runs: the kernels do not
check bounds, so a malformed CSR reaching them could read out of bounds.

The ``no_kernels`` fixture replaces every kernel the estimator can call with a
function that fails the test, so each ``pytest.raises`` below also proves the
error came from validation.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from conftest import guard_kernels
from fastem import NaiveBayesEM
from fastem._validation import check_labels


def _valid_X():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0],
                                   [0.0, 3.0, 0.0, 1.0],
                                   [4.0, 0.0, 0.0, 0.0],
                                   [0.0, 1.0, 1.0, 0.0]]))


Y = np.array([0, 1, 0, 1])


@pytest.fixture(scope="module")
def fitted():
    return NaiveBayesEM().fit(_valid_X(), Y)


# ------------------------------------------------------------------- values
@pytest.mark.parametrize("dense", [False, True])
def test_negative_values(no_kernels, dense):
    X = _valid_X()
    X.data[2] = -1.0
    X = X.toarray() if dense else X
    with pytest.raises(ValueError, match="Negative values"):
        NaiveBayesEM().fit(X, Y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dense", [False, True])
def test_nan_and_inf(no_kernels, bad, dense):
    X = _valid_X()
    X.data[0] = bad
    X = X.toarray() if dense else X
    with pytest.raises(ValueError, match="NaN or infinity"):
        NaiveBayesEM().fit(X, Y)


def test_invalid_values_rejected_in_predict(no_kernels, fitted):
    X = _valid_X()
    X.data[1] = np.nan
    for method in ("predict", "predict_proba", "predict_log_proba", "score_samples"):
        with pytest.raises(ValueError, match="NaN or infinity"):
            getattr(fitted, method)(X)
    X = _valid_X()
    X.data[1] = -2.0
    with pytest.raises(ValueError, match="Negative values"):
        fitted.predict(X)


# -------------------------------------------------------------- broken CSR
def test_column_index_equal_to_n_features(no_kernels):
    X = _valid_X()
    X.indices[0] = X.shape[1]  # scipy does not re-check after construction
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 4\), found 4"):
        NaiveBayesEM().fit(X, Y)


def test_column_index_equal_to_n_features_in_predict(no_kernels, fitted):
    X = _valid_X()
    X.indices[-1] = 4
    with pytest.raises(ValueError, match="column indices must lie in"):
        fitted.predict_proba(X)


def test_negative_column_index(no_kernels):
    X = _valid_X()
    X.indices[1] = -1
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 4\), found -1"):
        NaiveBayesEM().fit(X, Y)


def test_non_monotone_indptr(no_kernels):
    X = _valid_X()
    assert list(X.indptr) == [0, 2, 4, 5, 7]
    X.indptr[2] = 1  # [0, 2, 1, 5, 7]: starts at 0, ends at nnz, decreases
    with pytest.raises(ValueError, match="not monotonically non-decreasing"):
        NaiveBayesEM().fit(X, Y)


def test_indptr_last_not_nnz(no_kernels):
    X = _valid_X()
    X.indptr[-1] = X.nnz - 1
    with pytest.raises(ValueError, match=r"end at the number of stored values \(7\)"):
        NaiveBayesEM().fit(X, Y)


def test_indptr_not_starting_at_zero(no_kernels):
    X = _valid_X()
    X.indptr[0] = 1
    with pytest.raises(ValueError, match="indptr must start at 0"):
        NaiveBayesEM().fit(X, Y)


def test_indptr_wrong_length(no_kernels):
    X = _valid_X()
    X.indptr = X.indptr[:-1]
    with pytest.raises(ValueError, match="indptr has length 4, expected n_samples"):
        NaiveBayesEM().fit(X, Y)


def test_indices_and_data_lengths_differ(no_kernels):
    X = _valid_X()
    X.indices = X.indices[:-1]
    with pytest.raises(ValueError, match="6 indices for 7 stored values"):
        NaiveBayesEM().fit(X, Y)


# -------------------------------------------------------------- data types
def test_complex_data_sparse(no_kernels):
    X = _valid_X().astype(np.complex128)
    with pytest.raises((ValueError, TypeError), match="[Cc]omplex"):
        NaiveBayesEM().fit(X, Y)


def test_complex_data_dense(no_kernels):
    X = _valid_X().toarray().astype(np.complex128)
    with pytest.raises((ValueError, TypeError), match="[Cc]omplex"):
        NaiveBayesEM().fit(X, Y)


def test_string_data(no_kernels):
    X = np.array([["a", "b"], ["c", "d"]])
    with pytest.raises(TypeError, match="real numbers"):
        NaiveBayesEM().fit(X, [0, 1])
    with pytest.raises(TypeError, match="scipy.sparse matrix or a 2-D array"):
        NaiveBayesEM().fit("not a matrix", [0, 1])


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2)])
def test_wrong_number_of_dimensions(no_kernels, shape):
    with pytest.raises(ValueError, match="Expected a 2-D array"):
        NaiveBayesEM().fit(np.ones(shape), [0, 1, 0, 1][: shape[0]])


# ------------------------------------------------------------------- shapes
def test_x_and_y_lengths_differ(no_kernels):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        NaiveBayesEM().fit(_valid_X(), Y[:-1])


@pytest.mark.parametrize("make", [lambda: np.zeros((0, 3)), lambda: sp.csr_matrix((0, 3))])
def test_zero_rows(no_kernels, make):
    with pytest.raises(ValueError, match="0 sample"):
        NaiveBayesEM(n_classes=2).fit(make())


@pytest.mark.parametrize("make", [lambda: np.zeros((3, 0)), lambda: sp.csr_matrix((3, 0))])
def test_zero_features(no_kernels, make):
    with pytest.raises(ValueError, match="0 feature"):
        NaiveBayesEM().fit(make(), [0, 1, 0])


def test_predict_with_different_n_features(no_kernels, fitted):
    X = sp.csr_matrix(np.ones((2, 5)))
    for method in ("predict", "predict_proba", "predict_log_proba", "score_samples"):
        with pytest.raises(ValueError, match="X has 5 features, but NaiveBayesEM is expecting 4"):
            getattr(fitted, method)(X)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "score_samples"])
def test_predict_before_fit(no_kernels, method):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(NaiveBayesEM(), method)(_valid_X())


# ------------------------------------------------------------------- labels
def test_n_classes_smaller_than_labels(no_kernels):
    with pytest.raises(ValueError, match=r"n_classes=1 is smaller than the number of distinct "
                                         r"labels in y \(2\)"):
        NaiveBayesEM(n_classes=1).fit(_valid_X(), Y)


@pytest.mark.parametrize("y", [None, [-1, -1, -1, -1], [np.nan] * 4, [None] * 4])
def test_no_labels_and_no_n_classes(no_kernels, y):
    with pytest.raises(ValueError, match="has no labelled row: set n_classes"):
        NaiveBayesEM().fit(_valid_X(), y)


def test_n_classes_larger_than_string_labels(no_kernels):
    y = np.array(["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="works only with numeric labels"):
        NaiveBayesEM(n_classes=3).fit(_valid_X(), y)


@pytest.mark.parametrize("y", [[0.5, 1.2, 0.5, 2.7], [0.5, 1.2, -1, 2.7]])
def test_continuous_y(no_kernels, y):
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        NaiveBayesEM().fit(_valid_X(), y)


def test_y_mixing_strings_and_numbers(no_kernels):
    y = np.array(["a", 1, "b", 2], dtype=object)
    with pytest.raises(TypeError, match="Labels mix strings and numbers"):
        NaiveBayesEM().fit(_valid_X(), y)
    y = np.array(["a", 1, None, "b"], dtype=object)
    with pytest.raises(TypeError, match="Labels mix strings and numbers"):
        NaiveBayesEM().fit(_valid_X(), y)


def test_minus_one_in_a_list_of_string_labels_is_not_a_class():
    """``['spam', -1, ...]`` as a list: numpy turns -1 into the string '-1'.
    Either it is rejected or it marks an unlabelled row; it must not silently
    become a class named '-1'."""
    y = ["spam", -1, "ham", "spam"]
    try:
        model = NaiveBayesEM().fit(_valid_X(), y)
    except (TypeError, ValueError) as exc:
        assert "-1" in str(exc) or "mix" in str(exc)
    else:
        assert "-1" not in list(model.classes_), model.classes_
        assert list(model.classes_) == ["ham", "spam"]


@pytest.mark.parametrize("y", [np.array(["spam", -1, "ham", "spam"]),
                               np.array(["spam", np.nan, "ham", "spam"]),
                               np.array(["spam", "ham", "ham", None], dtype=str),
                               np.array([b"spam", b"-1", b"ham", b"spam"])])
def test_unlabelled_marker_turned_into_text_is_refused(no_kernels, y):
    """The same as a NumPy array: the marker is already text ('-1', 'nan',
    'None') when fastem sees it, and silently became a class before."""
    marker = [v for v in y.tolist() if v not in ("spam", "ham", b"spam", b"ham")][0]
    marker = marker.decode() if isinstance(marker, bytes) else marker
    with pytest.raises(ValueError, match=f"NumPy string array holding '{marker}'.*dtype=object"):
        NaiveBayesEM().fit(_valid_X(), y)


def test_object_labels_keep_the_marker_and_a_class_named_minus_one():
    model = NaiveBayesEM().fit(_valid_X(), np.array(["spam", -1, "ham", "-1"], dtype=object))
    assert list(model.classes_) == ["-1", "ham", "spam"]
    assert model.predict_proba(_valid_X()).shape == (4, 3)


def test_two_dimensional_y(no_kernels):
    with pytest.raises(ValueError, match="y should be a 1d array"):
        NaiveBayesEM().fit(_valid_X(), np.zeros((4, 2)))


# ---------------------------------------------------------- sample weights
def test_negative_sample_weight(no_kernels):
    with pytest.raises(ValueError, match="Negative values in data passed to `?sample_weight"):
        NaiveBayesEM().fit(_valid_X(), Y, sample_weight=[1.0, -1.0, 1.0, 1.0])


def test_sample_weight_wrong_length(no_kernels):
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(4,\)"):
        NaiveBayesEM().fit(_valid_X(), Y, sample_weight=[1.0, 1.0, 1.0])


@pytest.mark.parametrize("y", [None, [-1, -1, -1, -1]])
def test_nothing_to_fit_without_labels_and_unlabelled_weight_zero(y):
    """No labelled row and λ = 0: no row carries weight, every class count is 0.
    The fit should refuse instead of returning a NaN class prior."""
    model = NaiveBayesEM(n_classes=2, unlabeled_weight=0.0)
    with pytest.raises(ValueError, match="(?i)weight|label"):
        model.fit(_valid_X(), y)


# -------------------------------------------------------------- parameters
@pytest.mark.parametrize("params,match", [
    (dict(alpha=-1), "'alpha' parameter"),
    (dict(unlabeled_weight=-0.1), "'unlabeled_weight' parameter"),
    (dict(unlabeled_weight=1.5), "'unlabeled_weight' parameter"),
    (dict(tol=-1), "'tol' parameter"),
    (dict(max_iter=-1), "'max_iter' parameter"),
    (dict(n_init=0), "'n_init' parameter"),
    (dict(init="foo"), "'init' parameter"),
    (dict(n_classes=0), "'n_classes' parameter"),
    (dict(fit_prior="yes"), "'fit_prior' parameter"),
])
def test_invalid_parameters(no_kernels, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NaiveBayesEM(**params).fit(_valid_X(), Y)


@pytest.mark.parametrize("prior,match", [
    ([0.2, 0.3, 0.5], r"class_prior has shape \(3,\), expected \(2,\)"),
    ([1.0], r"class_prior has shape \(1,\), expected \(2,\)"),
    ([0.2, 0.3], "must be non-negative and sum to 1"),
    ([1.5, -0.5], "must be non-negative and sum to 1"),
])
def test_invalid_class_prior(no_kernels, prior, match):
    with pytest.raises(ValueError, match=match):
        NaiveBayesEM(class_prior=prior).fit(_valid_X(), Y)


# --------------------------------------------------------------- warm start
def test_warm_start_with_other_classes(monkeypatch):
    model = NaiveBayesEM(warm_start=True).fit(_valid_X(), Y)
    guard_kernels(monkeypatch)
    with pytest.raises(ValueError, match="warm_start=True needs the same classes"):
        model.fit(_valid_X(), [0, 1, 2, 1])


def test_warm_start_with_other_n_features(monkeypatch):
    model = NaiveBayesEM(warm_start=True).fit(_valid_X(), Y)
    guard_kernels(monkeypatch)
    with pytest.raises(ValueError, match="X has 5 features, but NaiveBayesEM is expecting 4"):
        model.fit(np.ones((4, 5)), Y)


def test_refit_without_warm_start_accepts_new_n_features():
    model = NaiveBayesEM().fit(_valid_X(), Y)
    model.fit(np.ones((4, 5)), Y)
    assert model.n_features_in_ == 5
    assert model.feature_log_prob_.shape == (2, 5)


@pytest.mark.parametrize("labels", [
    np.array([3, 1, 3, 7, 1], dtype=np.int8),
    np.array([-100, 100, 0, -100], dtype=np.int8),       # a range wider than int8
    np.array([5, 2, 9, 2], dtype=np.uint8),
    np.array([2**63 + 5, 2**63 + 1, 2**63 + 5], dtype=np.uint64),
    np.array([-7, 4, 4, -2, 0], dtype=np.int32),
    np.array([10**12, 3, 10**12], dtype=np.int64),       # a sparse range: sorted instead
    np.array([42] * 6, dtype=np.int64),
])
def test_integer_labels_are_coded_like_np_unique(labels):
    """Integer labels are coded by counting; classes and codes are those of
    np.unique, with -1 still the unlabelled marker."""
    y = np.concatenate([labels, np.array([-1, -1], dtype=labels.dtype)]) \
        if labels.dtype.kind == "i" else labels
    classes, codes = check_labels(y, y.shape[0])
    want_classes, want_codes = np.unique(labels, return_inverse=True)
    assert classes.dtype == want_classes.dtype
    np.testing.assert_array_equal(classes, want_classes)
    np.testing.assert_array_equal(codes[:labels.size], want_codes)
    assert np.all(codes[labels.size:] == -1)
