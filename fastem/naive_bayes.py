"""Multinomial Naive Bayes trained by EM: supervised, semi-supervised, unsupervised."""
from numbers import Integral, Real
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._base import EMMixin, assignment_counts, expected_counts, make_em_data, predict_arrays
from ._config import threads
from ._multinomial import Vocabulary, fitting_on, multinomial_log_prob
from ._validation import check_csr, check_labels, check_param_dtype


class NaiveBayesEM(ClassifierMixin, EMMixin):
    """Multinomial Naive Bayes fitted by Expectation-Maximisation.

    One estimator covers the three regimes of the seed notes
    (``seeds/000``): every row labelled gives supervised multinomial Naive
    Bayes (eqs. 10-11, identical to :class:`sklearn.naive_bayes.MultinomialNB`);
    some rows unlabelled gives semi-supervised EM (Figure 2, Nigam et al. 2000),
    where labelled rows keep their one-hot labels in every iteration; no row
    labelled gives unsupervised EM (Figure 1) with ``n_classes`` components.

    ``X`` is never densified: the E-step and the M-step counts are one fused
    pass over the non-zeros of a CSR matrix, parallel over rows.

    Parameters
    ----------
    alpha : float, default=1.0
        Additive (Laplace/Lidstone) smoothing, as in ``MultinomialNB``:
        ``P(w | k) = (N_wk + alpha) / (N_k + alpha * n_features)``. It is the
        MAP estimate under a symmetric Dirichlet(alpha + 1) prior on each
        class's word distribution, and that prior enters the objective.
    fit_prior : bool, default=True
        Learn class prior probabilities (expected class counts). If False a
        uniform prior is used and kept fixed.
    class_prior : array-like of shape (n_classes,), default=None
        Fixed prior probabilities of the classes (in the order of
        ``classes_``); not updated by EM.
    n_classes : int, default=None
        Number of classes (mixture components). Needed only when no row is
        labelled; when labels are present it may exceed the number of distinct
        labels (numeric labels only), the extra classes being discovered from
        the unlabelled rows and named by the next integers.
    unlabeled_weight : float in [0, 1], default=1.0
        Weight λ of unlabelled rows in the M-step and the objective (Nigam et
        al. 2000, EM-λ). 0 gives the supervised model of the labelled rows.
    n_components_per_class : int, default=1
        Number of multinomial components modelling each class (Nigam et al.
        2000, §5.2): a class that is itself a mixture of sub-topics is better
        fitted by several components. A labelled row's responsibilities are
        restricted to its class's components; a class's probability is the
        sum of its components'. With more than one, even a fully labelled
        fit runs EM (which component of its class a row belongs to is latent).
    init : {'labeled', 'uniform', 'random'}, default='labeled'
        Starting point. ``'labeled'``: supervised NB on the labelled rows;
        classes with no labelled row are seeded by a random partition of the
        unlabelled rows (so with no labels at all it is ``'random'``).
        ``'uniform'``: uniform class and word probabilities, as in the seed's
        figures; when some class has no labelled row this point is a fixed
        point of EM, so the word probabilities are then jittered at random
        (±10 %) to break the symmetry. ``'random'``: every unlabelled row is
        assigned to a random class, then an M-step. When nothing is latent
        (every row labelled, or ``unlabeled_weight=0``) the fit is the
        supervised one whatever ``init`` says.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    tol : float, default=1e-4
        Convergence threshold on the change of the objective per sample.
    n_init : int, default=1
        Number of initialisations; the one with the highest objective is kept.
    random_state : int, RandomState instance or None, default=None
        Seed for the random initialisations.
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
        dtype of the word log-probability table (``feature_log_prob_``), the
        table every E-step reads once per non-zero. float32 halves that
        memory traffic, and the M-step then reads the responsibilities in
        float32 too (an EM iteration is about as fast as in float64 at small
        K and up to about 15% faster at K=50-100, depending on the CPU: see
        the README); results then agree with float64 to about 1e-6
        relative. Counts, priors and every sum stay float64.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_log_prior_ : ndarray of shape (n_classes,)
        Log prior of each class (the seed's α).
    component_log_prior_ : ndarray of shape (n_classes * n_components_per_class,)
        Log prior of each component; the components of ``classes_[c]`` are
        ``c * n_components_per_class`` to ``(c + 1) * n_components_per_class - 1``.
        Equal to ``class_log_prior_`` when ``n_components_per_class=1``.
    feature_log_prob_ : ndarray of shape (n_classes * n_components_per_class, n_features)
        Log probability of a word given a class (the seed's β transposed), or
        given a component when ``n_components_per_class > 1``. A transposed
        view of the internal [n_features, n_components] array.
    class_count_ : ndarray of shape (n_classes,)
        Expected (weighted) number of rows per class in the last M-step.
    feature_count_ : ndarray of shape (n_classes * n_components_per_class, n_features)
        Expected (weighted) word counts per class (or component) in the last
        M-step (a view).
    converged_, n_iter_ : bool, int
        Whether EM converged and the number of iterations run (0 when
        nothing was latent).
    lower_bound_ : float
        Objective of the fitted model, per sample: the weighted
        log-likelihood ``sum_labelled log p(x, y) + λ sum_unlabelled log p(x)``
        (without multinomial coefficients) plus the log-density of the
        Dirichlet smoothing prior, ``alpha * sum log P(w | k)``, divided by
        n_samples. EM never decreases it.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The objective after each iteration.
    n_features_in_ : int

    Notes
    -----
    1 versus 2 threads: rows are split into one chunk per thread and the
    per-chunk counts are added in chunk order, so results differ only by
    floating-point reassociation (relative differences around 1e-15, tested at
    1e-12).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import NaiveBayesEM
    >>> from fastem.datasets import make_corpus
    >>> X, y, _ = make_corpus(n_samples=600, n_features=200, n_classes=3, random_state=0)
    >>> y_partial = y.copy(); y_partial[30:] = -1
    >>> model = NaiveBayesEM(alpha=0.1).fit(X, y_partial)
    >>> bool(model.score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_prior": ["boolean"],
        "class_prior": ["array-like", None],
        "n_classes": [Interval(Integral, 1, None, closed="left"), None],
        "unlabeled_weight": [Interval(Real, 0, 1, closed="both")],
        "n_components_per_class": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"labeled", "uniform", "random"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "dtype": "no_validation",  # check_param_dtype, in fit
    }

    def __init__(self, *, alpha=1.0, fit_prior=True, class_prior=None, n_classes=None,
                 unlabeled_weight=1.0, n_components_per_class=1, init="labeled", max_iter=100,
                 tol=1e-4, n_init=1, random_state=None, warm_start=False, n_jobs=None, verbose=0,
                 dtype=np.float64):
        self.alpha = alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.n_classes = n_classes
        self.unlabeled_weight = unlabeled_weight
        self.n_components_per_class = n_components_per_class
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.dtype = dtype

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit by EM. Rows whose label is ``-1``, ``NaN`` or ``None`` are unlabelled.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative counts (or weights such as tf-idf).
        y : array-like of shape (n_samples,), default=None
            Class labels of any type; ``-1``/``NaN``/``None`` mark unlabelled
            rows. ``None`` means no row is labelled (then ``n_classes`` is
            required).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (multiplied with ``unlabeled_weight`` for
            unlabelled rows).

        Returns
        -------
        self : NaiveBayesEM
        """
        self._validate_params()
        warm = self.warm_start and hasattr(self, "converged_")
        with threads(self.n_jobs) as n_threads:
            data, observed, vocabulary = self._prepare_fit(X, y, sample_weight, n_threads)
            with fitting_on(self, vocabulary, ("_log_prob", "_feature_count"), warm):
                self._fit_em(data)
        n_classes = self.classes_.shape[0]
        if observed.size == 0 and n_classes > 1 and np.ptp(self._log_prob, axis=1).max() == 0:
            warnings.warn("All components are identical after fitting: EM found no structure to "
                          "separate (try init='random', a larger n_init, or check X).", UserWarning)
        return self

    def _prepare_fit(self, X, y, sample_weight, n_threads):
        """Validate the fit's input once; set classes_ and n_features_in_ and
        return the arrays every EM pass uses, the observed labels and the
        :class:`Vocabulary` the fit's tables have rows for (the EM data's
        columns are its rows)."""
        warm = self.warm_start and hasattr(self, "converged_")
        self._dtype = check_param_dtype(self.dtype, self)
        # a fresh fit may change n_features; a warm one may not
        X = check_csr(X, estimator=self, n_features=self.n_features_in_ if warm else None)
        n_samples, n_features = X.shape
        observed, labels = check_labels(y, n_samples)
        classes = self._resolve_classes(observed)
        if self.warm_start and hasattr(self, "converged_") and (
                not np.array_equal(classes, self.classes_)
                or self._log_prob.shape[1] != classes.shape[0] * self.n_components_per_class):
            raise ValueError("warm_start=True needs the same classes and n_components_per_class "
                             "as the previous fit.")
        n_classes = classes.shape[0]
        fixed_prior = self._fixed_log_prior(n_classes)
        if fixed_prior is not None:
            impossible = np.flatnonzero(np.isneginf(fixed_prior)[labels[labels >= 0]])
            if impossible.size:
                raise ValueError(f"class_prior gives probability 0 to class "
                                 f"{classes[labels[labels >= 0][impossible[0]]].item()!r}, which has "
                                 "labelled rows: its rows would be impossible.")

        weight = _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float64,
                                      ensure_non_negative=True)
        weight = np.where(labels < 0, weight * self.unlabeled_weight, weight)
        if not np.any(weight > 0):
            raise ValueError("Every row has zero weight, so there is nothing to fit: with no labelled "
                             "rows unlabeled_weight must be > 0 (and sample_weight not all zero).")

        self.classes_ = classes
        self.n_features_in_ = n_features
        self._fixed_prior = fixed_prior
        per_class = self.n_components_per_class
        # (a fit that does not iterate gains nothing from fewer rows)
        vocabulary = Vocabulary(X, enabled=self.max_iter > 0 and self._latent(labels, weight))
        data = make_em_data(vocabulary.matrix(X), n_classes * per_class, n_threads, weight, labels,
                            np.arange(0, n_classes * per_class + 1, per_class, dtype=np.int64))
        return data, observed, vocabulary

    def _resolve_classes(self, observed):
        n_observed = observed.shape[0]
        if self.n_classes is None:
            if n_observed == 0:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is "
                                 "None or has no labelled row: set n_classes to the number of classes "
                                 "(mixture components) to fit without labels.")
            return observed
        if self.n_classes < n_observed:
            raise ValueError(f"n_classes={self.n_classes} is smaller than the number of distinct "
                             f"labels in y ({n_observed}).")
        if self.n_classes == n_observed:
            return observed
        if n_observed == 0:
            return np.arange(self.n_classes)
        if observed.dtype.kind not in "iuf":
            raise ValueError(f"n_classes={self.n_classes} exceeds the {n_observed} distinct labels, "
                             "which works only with numeric labels (the extra classes are named by "
                             "the next integers); pass n_classes=None or use numeric labels.")
        start = max(int(np.max(observed)) + 1, 0)  # never -1, the unlabelled marker
        extra = np.arange(start, start + self.n_classes - n_observed)
        # a dtype that holds the new names too (uint8 labels up to 255 and a
        # class 256 need uint16)
        dtype = np.result_type(observed.dtype, np.min_scalar_type(int(extra[-1])))
        return np.concatenate([observed.astype(dtype), extra.astype(dtype)])

    def _fixed_log_prior(self, n_classes):
        """The class log prior when it is not learnt, else None."""
        if self.class_prior is not None:
            prior = np.asarray(self.class_prior, dtype=np.float64)
            if prior.shape != (n_classes,):
                raise ValueError(f"class_prior has shape {prior.shape}, expected ({n_classes},) "
                                 "(one probability per class).")
            if np.any(prior < 0) or not np.isclose(prior.sum(), 1.0):
                raise ValueError("class_prior must be non-negative and sum to 1.")
            with np.errstate(divide="ignore"):
                return np.log(prior)
        if not self.fit_prior:
            return np.full(n_classes, -np.log(n_classes))
        return None

    # ------------------------------------------------------------ EM hooks
    def _has_latent(self, data):
        return self._latent(data.labels, data.weight)

    def _latent(self, labels, weight):
        # free rows, or labelled rows whose class has several components
        return bool(np.any(((labels < 0) | (self.n_components_per_class > 1)) & (weight > 0)))

    def _initialize(self, data, random_state):
        n_features = self.n_features_in_
        n_classes = self.classes_.shape[0]
        per_class = self.n_components_per_class
        n_components = n_classes * per_class
        free = data.labels < 0
        covered = np.bincount(data.labels[~free], minlength=n_classes) > 0
        if self.init == "uniform" and self._has_latent(data):
            self._set_log_prior(np.ones(n_components))
            prob = np.ones((n_features, n_components))
            if not covered.all() or per_class > 1:  # break the symmetry
                prob *= random_state.uniform(0.9, 1.1, size=prob.shape)
            log_prob = np.log(prob / prob.sum(axis=0)).astype(self._dtype)
            self._log_prob_sums = (0.0, float(log_prob.sum(dtype=np.float64)))
            # (a fit that compresses drops the noisy rows of empty columns
            # but one: it iterates, and its M-step makes them all alike)
            self._log_prob = self._vocabulary.compress(log_prob)
            self._feature_count = np.zeros((self._vocabulary.n_rows, n_components))
            self._component_count = np.zeros(n_components)
            return
        classes = data.labels.copy()
        if self.init == "random" or not covered.any():
            classes[free] = random_state.randint(n_classes, size=int(free.sum()))
        else:
            # supervised NB on the labelled rows; a class without labelled rows
            # is seeded by as many random unlabelled rows as an average
            # labelled class has (a larger random share would make it a
            # catch-all background class that absorbs every document)
            targets = np.flatnonzero(~covered)
            if targets.size:
                free_rows = np.flatnonzero(free)
                per_target = max(1, int(round((~free).sum() / covered.sum())))
                n_seed = min(free_rows.size, per_target * targets.size)
                seeds = random_state.choice(free_rows, size=n_seed, replace=False)
                classes[seeds] = np.resize(targets, n_seed)
        # each row of class c goes to one of its components, at random
        components = np.where(classes < 0, -1,
                              classes * per_class + random_state.randint(per_class, size=classes.shape))
        self._m_step(data, assignment_counts(data, components, n_components))

    def _e_step(self, data):
        return expected_counts(data, self._log_prior, self._log_prob)

    def _set_log_prior(self, component_count):
        """Component log prior from expected counts, honouring a fixed class prior."""
        per_class = self.n_components_per_class
        with np.errstate(divide="ignore", invalid="ignore"):
            if self._fixed_prior is None:
                total = component_count.sum()
                if total > 0:
                    self._log_prior = np.log(component_count) - np.log(total)
                    return
                component_count = np.ones_like(component_count)  # no information
            # fixed class prior times the learnt weights within each class
            within = component_count.reshape(-1, per_class)
            class_total = within.sum(axis=1, keepdims=True)
            log_within = np.where(class_total > 0, np.log(within) - np.log(class_total),
                                  -np.log(per_class))
            prior = self._fixed_prior if self._fixed_prior is not None else \
                np.full(within.shape[0], -np.log(within.shape[0]))
            self._log_prior = (prior[:, None] + log_within).ravel()

    def _m_step(self, data, stats):
        counts, component_count = stats
        self._feature_count = counts
        self._component_count = component_count
        # with sum(counts * log_prob) and sum(log_prob), for the objective
        self._log_prob, *self._log_prob_sums = multinomial_log_prob(
            counts, self.alpha, return_sums=True, dtype=self._dtype, n_features=self.n_features_in_)
        self._set_log_prior(component_count)

    def _complete_log_likelihood(self):
        # sum_i w_i log p(x_i, y_i) = sum_k N_k log pi_k + sum_wk N_wk log P(w|k)
        # when every row has one known component; the second sum came with the
        # M-step (zero counts contribute 0, even against a log-probability of -inf)
        counted = self._component_count > 0
        return (float(np.dot(self._component_count[counted], self._log_prior[counted]))
                + self._log_prob_sums[0])

    def _log_param_prior(self):
        if self.alpha == 0:
            return 0.0
        return float(self.alpha * self._log_prob_sums[1])

    def __setstate__(self, state):
        # models pickled before the M-step kept these sums
        if "_log_prob" in state and "_log_prob_sums" not in state:
            log_prob, counts = state["_log_prob"], state["_feature_count"]
            counted = counts > 0
            state["_log_prob_sums"] = (float(np.sum(counts[counted] * log_prob[counted])),
                                       float(log_prob.sum(dtype=np.float64)))
        super().__setstate__(state)

    def _get_parameters(self):
        return (self._log_prior, self._log_prob, self._feature_count, self._component_count,
                self._log_prob_sums)

    def _set_parameters(self, params):
        (self._log_prior, self._log_prob, self._feature_count, self._component_count,
         self._log_prob_sums) = params
        per_class = self.n_components_per_class
        self.component_log_prior_ = self._log_prior
        self.class_log_prior_ = logsumexp(self._log_prior.reshape(-1, per_class), axis=1)
        self.class_count_ = self._component_count.reshape(-1, per_class).sum(axis=1)

    # ------------------------------------------------------------ attributes
    @property
    def feature_log_prob_(self):
        return self._log_prob.T

    @property
    def feature_count_(self):
        return self._feature_count.T

    # ------------------------------------------------------------ prediction
    def _class_scores(self, X, need_posterior):
        """Class joint log-likelihood [n_samples, n_classes] and, if asked, class
        posteriors and log p(x) [n_samples]."""
        check_is_fitted(self, "classes_")
        X = check_csr(X, n_features=self.n_features_in_, estimator=self)
        with threads(self.n_jobs):
            jll, resp, log_norm = predict_arrays(X, self._log_prior, self._log_prob, need_posterior)
        # components per class from the fitted table (a set_params since the
        # fit does not change it)
        per_class = jll.shape[1] // self.classes_.shape[0]
        if per_class == 1:
            return jll, resp, log_norm
        # a class's likelihood sums those of its components (Nigam et al. §5.2)
        jll = logsumexp(jll.reshape(jll.shape[0], -1, per_class), axis=2)
        if need_posterior:
            resp = resp.reshape(resp.shape[0], -1, per_class).sum(axis=2)
        return jll, resp, log_norm

    def predict(self, X):
        """Most probable class of each row."""
        jll = self._class_scores(X, need_posterior=False)[0]
        return self.classes_[np.argmax(jll, axis=1)]

    def predict_proba(self, X):
        """Posterior class probabilities, shape (n_samples, n_classes)."""
        return self._class_scores(X, need_posterior=True)[1]

    def predict_log_proba(self, X):
        """Log posterior class probabilities, shape (n_samples, n_classes)."""
        jll, _, log_norm = self._class_scores(X, need_posterior=True)
        # a row impossible under every class has log p(x) = -inf; its
        # posterior is uniform (see score_samples), not NaN
        impossible = np.isneginf(log_norm)
        with np.errstate(invalid="ignore"):
            jll -= log_norm[:, None]
        jll[impossible] = -np.log(jll.shape[1])
        return jll

    def score_samples(self, X):
        """Log-likelihood ``log p(x) = logsumexp_k(log π_k + sum_w x_w log P(w | k))`` per row.

        The multinomial coefficient ``log(n! / prod_w x_w!)`` is not included:
        it does not depend on the parameters, so it changes neither the
        posterior nor any comparison between models on the same data. A row
        impossible under every class (possible only with ``alpha=0``) gets
        -inf and a uniform posterior.
        """
        return self._class_scores(X, need_posterior=True)[2]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        # a linear model of counts: scikit-learn's generic accuracy threshold is
        # too strict for it, as for MultinomialNB
        tags.classifier_tags.poor_score = True
        return tags
