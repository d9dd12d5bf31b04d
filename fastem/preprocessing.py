"""Transforms of bag-of-words count matrices that help multinomial Naive Bayes."""
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import check_csr


class DocumentNormalizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Log term frequencies, inverse document frequencies and length normalisation.

    The three transforms of Rennie et al. (2003), §4, which correct the
    assumptions of multinomial Naive Bayes that hurt it most on text, applied
    in this order to a matrix of word counts (one row per document):

    1. ``log_tf``: every count ``x`` becomes ``log(1 + x)``. Real word counts
       are burstier than a multinomial predicts (a word seen once in a
       document is likely to be seen again); the log damps repeated words.
    2. ``idf``: column ``j`` is multiplied by
       ``idf_j = log(n_docs / max(df_j, 1))``, where ``n_docs`` is the number
       of rows of the matrix given to ``fit`` and ``df_j`` the number of those
       rows with a non-zero in column ``j``. Common words, which carry little
       about the class, get small weights; a word present in every fitted
       document gets weight 0 and drops out. A word absent from the fitted
       matrix gets ``log(n_docs)``, the weight of the rarest words.
    3. ``norm``: each row is scaled so that its sum (``'l1'``) or Euclidean
       norm (``'l2'``) equals ``length``, so that long documents do not
       dominate the class estimates. An empty row, or one that the idf weights
       make all-zero, stays empty.

    The output is a float64 CSR matrix with sorted indices and no stored
    zeros. The input is never modified and never densified: every step is
    vectorised over the stored values.

    Parameters
    ----------
    log_tf : bool, default=True
        Replace the counts by ``log(1 + count)``.
    idf : bool, default=True
        Multiply each column by its inverse document frequency ``idf_``.
    norm : {'l1', 'l2'} or None, default='l1'
        Row normalisation: ``'l1'`` makes each row sum to ``length`` (a
        document of ``length`` weighted words, the natural input of a
        multinomial model), ``'l2'`` makes its Euclidean norm ``length`` (the
        choice of Rennie et al.), None leaves the rows' scale alone.
    length : float, default=10.0
        Target norm of every non-empty row; ignored when ``norm=None``. Must
        be positive and finite.

    Attributes
    ----------
    idf_ : ndarray of shape (n_features,), dtype float64
        Inverse document frequencies learnt in ``fit``,
        ``log(n_docs / max(df_j, 1))``. Computed whatever ``idf`` says; used
        only when ``idf=True``.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    See Also
    --------
    sklearn.feature_extraction.text.TfidfTransformer : a similar transformer
        with a smoothed idf (``log((1 + n) / (1 + df)) + 1``, never 0) and
        unit-norm rows.

    Notes
    -----
    The scale ``length`` interacts with the smoothing ``alpha`` of
    :class:`fastem.NaiveBayesEM`: ``alpha`` is a pseudo-count in the same
    units as the transformed counts, so halving ``length`` doubles the weight
    of the smoothing relative to the data. On 20 Newsgroups ``length=10``
    worked well with ``alpha=0.03`` and ``unlabeled_weight=1``; an ``alpha``
    much larger than about ``0.003 * length`` made semi-supervised EM collapse
    most documents into a few classes. Choose both on held-out labelled data.

    Duplicate entries of a sparse input count as their sum (as in every fastem
    estimator). Stored zeros are not counted as occurrences in ``df``.
    Dense input (a NumPy array or array-like) is accepted and the result is
    still sparse: a ``scipy.sparse.csr_matrix``, or a ``csr_array`` when the
    input is a SciPy sparse array.

    References
    ----------
    J. D. M. Rennie, L. Shih, J. Teevan and D. R. Karger (2003). Tackling the
    poor assumptions of Naive Bayes text classifiers. ICML, §4.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import DocumentNormalizer, NaiveBayesEM
    >>> from fastem.datasets import make_corpus
    >>> from sklearn.pipeline import make_pipeline
    >>> X, y, _ = make_corpus(n_samples=600, n_features=200, n_classes=3, random_state=0)
    >>> y_partial = y.copy(); y_partial[30:] = -1
    >>> model = make_pipeline(DocumentNormalizer(), NaiveBayesEM(alpha=0.03)).fit(X, y_partial)
    >>> Xt = DocumentNormalizer(norm="l1", length=10.0).fit_transform(X)
    >>> bool(np.allclose(Xt.sum(axis=1), 10.0))
    True
    """

    _parameter_constraints = {
        "log_tf": ["boolean"],
        "idf": ["boolean"],
        "norm": [StrOptions({"l1", "l2"}), None],
        "length": [Interval(Real, 0, None, closed="neither")],  # excludes inf and NaN
    }

    def __init__(self, log_tf=True, idf=True, norm="l1", length=10.0):
        self.log_tf = log_tf
        self.idf = idf
        self.norm = norm
        self.length = length

    def fit(self, X, y=None):
        """Learn the inverse document frequencies ``idf_`` of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative finite word counts.
        y : None
            Ignored.

        Returns
        -------
        self : DocumentNormalizer
        """
        self._validate_params()
        X = self._canonical(X, n_features=None)
        n_docs, n_features = X.shape
        # after sum_duplicates/eliminate_zeros each stored entry is one
        # document containing the word
        df = np.bincount(X.indices, minlength=n_features)
        self.idf_ = np.log(n_docs / np.maximum(df, 1)).astype(np.float64, copy=False)
        self.n_features_in_ = n_features
        return self

    def transform(self, X):
        """Apply ``log_tf``, ``idf`` and ``norm`` (those switched on) to ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative finite word counts, with as many columns as in
            ``fit``.

        Returns
        -------
        Xt : scipy.sparse CSR matrix of shape (n_samples, n_features), float64
            Canonical (sorted indices, no duplicates, no stored zeros).
        """
        self._validate_params()
        check_is_fitted(self, "idf_")
        X = self._canonical(X, n_features=self.n_features_in_)
        if self.log_tf:
            np.log1p(X.data, out=X.data)
        if self.norm is not None:
            # a row's scale does not survive the normalisation, so divide it
            # by its largest value first: data * idf_ cannot overflow
            _divide_rows(X, _row_reduce(np.maximum, X.data, X.indptr))
        if self.idf:
            X.data *= self.idf_[X.indices]
        if self.norm is not None:
            # again after idf: with the largest value exactly 1 the norm is in
            # [1, n_features], so it neither overflows nor underflows to 0; an
            # all-zero row has maximum and norm 0 and gets factor 0, not NaN
            _divide_rows(X, _row_reduce(np.maximum, X.data, X.indptr))
            if self.norm == "l1":  # entries are >= 0
                norms = _row_reduce(np.add, X.data, X.indptr)
            else:
                norms = np.sqrt(_row_reduce(np.add, X.data * X.data, X.indptr))
            _scale_rows(X, _inverse(norms, float(self.length)))
        X.eliminate_zeros()  # idf 0, and values that underflowed
        return X

    def _canonical(self, X, n_features):
        """Validated float64 CSR copy of ``X`` with summed duplicates, sorted
        indices and no stored zeros, of the sparse flavour of ``X``."""
        csr = check_csr(X, n_features=n_features, estimator=self)
        container = sp.csr_array if isinstance(X, sp.sparray) else sp.csr_matrix
        # copy=True: the steps below work in place on these arrays, which may
        # be the caller's own
        out = container((csr.data, csr.indices, csr.indptr), shape=csr.shape,
                        dtype=np.float64, copy=True)
        out.sum_duplicates()  # also sorts the indices
        out.eliminate_zeros()
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        return tags


def _row_reduce(ufunc, values, indptr):
    """``ufunc`` reduced over each row's stored ``values``; 0 for an empty row."""
    counts = np.diff(indptr)
    out = np.zeros(counts.shape[0], dtype=np.float64)
    nonempty = counts > 0
    if values.size:
        # consecutive starts of the non-empty rows: each segment ends where
        # the next non-empty row starts, i.e. at the end of its own row
        out[nonempty] = ufunc.reduceat(values, indptr[:-1][nonempty])
    return out


def _inverse(values, numerator=1.0):
    """``numerator / values``, with 0 where ``values`` is 0 (an empty row)."""
    return np.divide(numerator, values, out=np.zeros_like(values), where=values > 0)


def _divide_rows(X, divisors):
    """Divide row ``i`` of the CSR matrix ``X`` by ``divisors[i]``, in place;
    a row with divisor 0 (its largest value: it holds only zeros) is left as
    it is. Dividing, not multiplying by the inverse: 1 / x overflows for a
    subnormal x, and 0 * inf is NaN."""
    per_entry = np.repeat(divisors, np.diff(X.indptr))
    np.divide(X.data, per_entry, out=X.data, where=per_entry > 0)


def _scale_rows(X, factors):
    """Multiply row ``i`` of the CSR matrix ``X`` by ``factors[i]``, in place."""
    X.data *= np.repeat(factors, np.diff(X.indptr))
