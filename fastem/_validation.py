"""Turning user input into arrays the kernels can trust.

Numba does not check bounds: every CSR that comes from a user passes through
``check_csr`` before any kernel sees it, and labels through ``check_labels``.
"""
from collections import namedtuple
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._kernels import csr as kernels

#: A validated CSR matrix: float32/float64 ``data`` (finite, >= 0), int32 or
#: int64 ``indices``/``indptr`` of one dtype, indices in [0, n_features).
CSR = namedtuple("CSR", ["data", "indices", "indptr", "shape"])


def _as_csr_arrays(X):
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D sparse matrix, got {X.ndim} dimension(s).")
        if X.format != "csr":
            X = X.tocsr()  # converted once, never densified
        return X.data, X.indices, X.indptr, tuple(X.shape)
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__") and not hasattr(X, "__array__"):
        raise TypeError(f"X must be a scipy.sparse matrix or a 2-D array, got {type(X).__name__}.")
    arr = np.asarray(X)
    if arr.dtype.kind == "O":
        try:  # an object array of numbers is fine; anything else is not
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"X must hold real numbers; converting the object array failed: {exc}") from exc
    if arr.dtype.kind == "c":
        raise ValueError("Complex data not supported; fastem needs non-negative real counts or weights.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got an array of dtype {arr.dtype}.")
    if arr.dtype == np.float16:  # SciPy's sparse formats do not support it
        arr = arr.astype(np.float32)
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array, got an array with {arr.ndim} dimension(s). Reshape your data "
            "with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
        )
    X = sp.csr_matrix(arr)
    return X.data, X.indices, X.indptr, tuple(X.shape)


def check_csr(X, *, n_features=None, estimator=None):
    """Validate ``X`` and return it as a :class:`CSR` of kernel-ready arrays.

    Accepts any scipy.sparse matrix or array (converted to CSR once) and dense
    array-likes. No copy is made of a CSR whose arrays already have acceptable
    dtypes. Duplicate and unsorted indices are left as they are: every kernel
    sums over the stored entries, so they count as the sum of their values.

    Raises ``ValueError``/``TypeError`` for: complex or non-numeric data, no
    samples or no features, an inconsistent ``indptr`` (wrong length, not
    starting at 0, decreasing, not ending at nnz), indices outside
    [0, n_features), NaN or infinite values, negative values, and a number of
    features different from ``n_features`` when that is given.
    """
    name = type(estimator).__name__ if estimator is not None else "the estimator"
    data, indices, indptr, shape = _as_csr_arrays(X)
    n_rows, n_cols = shape
    if n_rows < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 is required.")
    if n_cols < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
    if n_features is not None and n_cols != n_features:
        raise ValueError(
            f"X has {n_cols} features, but {name} is expecting {n_features} features as input."
        )

    if data.dtype.kind == "c":
        raise ValueError("Complex data not supported; fastem needs non-negative real counts or weights.")
    if data.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {data.dtype}.")
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)

    index_dtype = np.int32 if (indices.dtype == np.int32 and indptr.dtype == np.int32) else np.int64
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise TypeError("CSR indices and indptr must be integer arrays.")
    # contiguous arrays of one layout: the kernels compile once, not per layout
    data = np.ascontiguousarray(data)
    indices = np.ascontiguousarray(indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(indptr, dtype=index_dtype)

    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(
            f"Invalid CSR matrix: indptr has length {indptr.shape[0]}, expected n_samples + 1 = {n_rows + 1}."
        )
    nnz = data.shape[0]
    if indices.shape[0] != nnz:
        raise ValueError(f"Invalid CSR matrix: {indices.shape[0]} indices for {nnz} stored values.")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(
            f"Invalid CSR matrix: indptr must start at 0 and end at the number of stored values ({nnz}), "
            f"got {indptr[0]} and {indptr[-1]}."
        )
    if n_rows > 0 and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError("Invalid CSR matrix: indptr is not monotonically non-decreasing.")
    if nnz:
        bad_index, non_finite, negative = kernels.count_invalid_entries(
            data, indices, n_cols, max(1, min(64, nnz // 65536)))
        if bad_index:
            offender = indices[(indices < 0) | (indices >= n_cols)][0]
            raise ValueError(
                f"Invalid CSR matrix: column indices must lie in [0, {n_cols}), found {offender}."
            )
        if non_finite:
            raise ValueError("Input X contains NaN or infinity; counts must be finite.")
        if negative:
            raise ValueError(
                "Negative values in data passed to X; fastem models counts or weights, which must be >= 0."
            )
    return CSR(data, indices, indptr, (n_rows, n_cols))


def check_fitted_width(n_columns, n_fitted):
    """Refuse rows of ``n_columns`` features for tables fitted on
    ``n_fitted``. The prediction kernels index the fitted tables by column
    without bounds checks, and a fit that failed after setting
    ``n_features_in_`` could leave a model whose tables are narrower than
    what the usual ``n_features_in_`` check lets through."""
    if n_columns != n_fitted:
        raise ValueError(f"X has {n_columns} features, but the fitted parameters have "
                         f"{n_fitted}: the last fit did not complete. Fit the model again "
                         "before predicting.")


def check_param_dtype(dtype, estimator=None):
    """The numpy dtype of an estimator's ``dtype`` parameter: float64 or float32."""
    name = type(estimator).__name__ if estimator is not None else "the estimator"
    try:
        resolved = None if dtype is None else np.dtype(dtype)
    except TypeError:
        resolved = None
    # (a dtype compares equal to None, so test the type itself)
    if resolved is None or resolved.type not in (np.float64, np.float32):
        raise ValueError(f"The 'dtype' parameter of {name} must be np.float64 or np.float32, "
                         f"got {dtype!r}.")
    return resolved


def is_unlabeled(y):
    """Boolean mask of unlabelled entries: ``-1`` (scikit-learn's convention),
    ``NaN`` (the seed notes' convention) or ``None``."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        return np.isnan(y) | (y == -1)
    if y.dtype.kind in "iu":
        return y == -1
    if y.dtype.kind == "O":
        def missing(v):
            if v is None:
                return True
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                return v != v or v == -1
            return False
        return np.fromiter((missing(v) for v in y), dtype=bool, count=y.shape[0])
    return np.zeros(y.shape[0], dtype=bool)


def _integer_codes(labels):
    """``np.unique(labels, return_inverse=True)`` for integer labels, by
    counting when their range is at most a few times their number (no sort:
    measured 5.6 -> 0.3 ms for 100,000 labels of 20 classes, with the
    classification-target check it makes unnecessary)."""
    lo, hi = int(labels.min()), int(labels.max())
    if hi - lo > 4 * labels.size + 1024:
        return np.unique(labels, return_inverse=True)
    # unsigned labels are shifted in their own dtype: a uint64 may not fit an int64
    unsigned = labels.dtype.kind == "u"
    start = labels.dtype.type(lo) if unsigned else lo
    offset = (labels - start).astype(np.int64) if unsigned else labels.astype(np.int64) - lo
    present = np.bincount(offset, minlength=hi - lo + 1) > 0
    found = np.flatnonzero(present)
    classes = found.astype(labels.dtype) + start if unsigned else (found + lo).astype(labels.dtype)
    return classes, (np.cumsum(present) - 1)[offset]


def check_labels(y, n_samples):
    """Split ``y`` into the observed classes and int64 codes (-1 = unlabelled).

    ``y=None`` means no row is labelled. Returns ``(classes, codes)``.
    """
    if y is None:
        return np.array([], dtype=np.int64), np.full(n_samples, -1, dtype=np.int64)
    if not hasattr(y, "dtype"):
        # keep a list's items as they are: np.asarray(["a", -1]) would turn
        # the unlabelled marker -1 into the string "-1"
        y = np.asarray(y, dtype=object)
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {n_samples} rows in X, {y.shape[0]} labels in y."
        )
    if y.dtype.kind in "US":
        coerced = np.isin(y, np.array(["-1", "nan", "None"], dtype=y.dtype))
        if coerced.any():
            value = y[np.flatnonzero(coerced)[0]]
            value = value.decode() if isinstance(value, bytes) else str(value)
            raise ValueError(f"y is a NumPy string array holding {value!r}: NumPy turned "
                             "the unlabelled marker into text. Build y with dtype=object "
                             "(there -1, NaN or None mark unlabelled rows, and a class named "
                             f"{value!r} stays a class).")
    unlabeled = is_unlabeled(y)
    observed = y[~unlabeled]
    if observed.size == 0:
        return np.array([], dtype=np.int64), np.full(n_samples, -1, dtype=np.int64)
    if observed.dtype.kind == "O":
        kinds = {isinstance(v, str) for v in observed}
        if len(kinds) > 1:
            raise TypeError("Labels mix strings and numbers; mark unlabelled rows with -1, NaN or None.")
        # let NumPy infer the labels' own dtype (ints stay ints, strings strings)
        observed = np.array(observed.tolist())
    if observed.dtype.kind in "iu":
        # a 1-D integer array is always class labels (binary or multiclass)
        classes, observed_codes = _integer_codes(observed)
    else:
        check_classification_targets(observed)
        classes, observed_codes = np.unique(observed, return_inverse=True)
    codes = np.full(n_samples, -1, dtype=np.int64)
    codes[~unlabeled] = observed_codes
    return classes, codes
