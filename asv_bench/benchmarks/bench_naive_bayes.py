"""NaiveBayesEM and MultinomialMixture fits and the fused EM pass on a
seeded synthetic corpus.

Fits run a fixed number of iterations (``tol=0``) so timings measure
iterations, not convergence luck.
"""
import subprocess
import sys
import warnings

import numba
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastem import MultinomialMixture, NaiveBayesEM
from fastem._base import blocks_add_jll, blocks_jll, make_blocks
from fastem._kernels import blocked
from fastem._kernels import csr as kernels
from fastem._kernels.bernoulli import bernoulli_tables
from fastem._kernels.multinomial import smoothed_log_prob
from fastem._validation import CSR

from .common import corpus

MAX_ITER = 10


def _fit(X, y, n_classes, n_jobs=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return NaiveBayesEM(alpha=0.1, n_classes=n_classes, max_iter=MAX_ITER, tol=0.0,
                            random_state=0, n_jobs=n_jobs).fit(X, y)


class NaiveBayesEMFit:
    params = ([5, 20], [1, 2])
    param_names = ["n_classes", "n_jobs"]
    timeout = 300

    def setup(self, n_classes, n_jobs):
        self.X, self.y, self.y_partial = corpus(n_classes=n_classes)
        _fit(self.X[:200], self.y_partial[:200], n_classes)  # JIT warm-up

    def time_fit_semi_supervised(self, n_classes, n_jobs):
        _fit(self.X, self.y_partial, n_classes, n_jobs)

    def time_fit_supervised(self, n_classes, n_jobs):
        _fit(self.X, self.y, n_classes, n_jobs)

    def peakmem_fit_semi_supervised(self, n_classes, n_jobs):
        _fit(self.X, self.y_partial, n_classes, n_jobs)

    def track_objective(self, n_classes, n_jobs):
        return _fit(self.X, self.y_partial, n_classes, n_jobs).lower_bound_

    def track_accuracy(self, n_classes, n_jobs):
        return _fit(self.X, self.y_partial, n_classes, n_jobs).score(self.X, self.y)


def _fit_mixture(X, n_components, init_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MultinomialMixture(n_components, alpha=0.1, max_iter=MAX_ITER, tol=0.0,
                                  init_params=init_params, random_state=0).fit(X)


class MultinomialMixtureFit:
    """Clustering fits: the default k-means++ seeding (30 candidate centres
    per component, their costs a pass over the entries of their words in
    the blocked copy) against a random partition, then MAX_ITER iterations."""
    params = ([5, 20], ["kmeans++", "random"])
    param_names = ["n_components", "init_params"]
    timeout = 300

    def setup(self, n_components, init_params):
        self.X, _, _ = corpus(n_classes=n_components)
        _fit_mixture(self.X[:200], n_components, init_params)  # JIT warm-up

    def time_fit(self, n_components, init_params):
        _fit_mixture(self.X, n_components, init_params)

    def track_objective(self, n_components, init_params):
        return _fit_mixture(self.X, n_components, init_params).lower_bound_


class Kernels:
    params = [2, 5, 20, 50]
    param_names = ["n_classes"]

    def setup(self, n_classes):
        X, _, y_partial = corpus(n_classes=n_classes)
        rng = np.random.default_rng(0)
        self.args = (X.data, X.indices, X.indptr)
        self.csr = CSR(X.data, X.indices, X.indptr, X.shape)
        self.n_samples = X.shape[0]
        self.log_prior = np.full(n_classes, -np.log(n_classes))
        prob = rng.random((X.shape[1], n_classes)) + 0.1
        self.log_prob = np.log(prob / prob.sum(axis=0))
        self.bounds = kernels.chunk_bounds(X.indptr, numba.get_num_threads())
        self.blocks = make_blocks(self.csr, n_classes, numba.get_num_threads())
        self.weight = np.ones(X.shape[0])
        self.labels = y_partial
        self.label_bounds = np.arange(n_classes + 1, dtype=np.int64)
        self.jll = np.empty((X.shape[0], n_classes))
        self.resp = np.empty_like(self.jll)
        self.log_norm = np.empty(X.shape[0])
        self.counts = np.empty((X.shape[1], n_classes))
        self.class_counts = np.empty(n_classes)
        # the words of 30 documents drawn by length, as the seeding's candidates
        lengths = np.diff(X.indptr).astype(float)
        docs = rng.choice(X.shape[0], size=30, p=lengths / lengths.sum())
        words = np.unique(np.concatenate([X.indices[X.indptr[i]:X.indptr[i + 1]] for i in docs]))
        self.col_map = np.full(X.shape[1], -1, dtype=np.int64)
        self.col_map[words] = np.arange(words.shape[0])
        self.deltas = rng.random((words.shape[0], 30))
        self.candidate_jll = np.zeros((X.shape[0], 30))
        self.means = rng.uniform(1e-3, 0.5, size=(X.shape[1], n_classes))  # Bernoulli means
        self.table = np.empty_like(self.log_prob)
        # compile (or load from cache) before timing; also fills jll and resp
        self.time_blocked_jll(n_classes)
        self.time_blocked_add_jll(n_classes)
        self.time_joint_log_likelihood(n_classes)
        self.time_log_posterior(n_classes)
        self.time_scatter_counts(n_classes)
        self.time_em_pass(n_classes)  # (fills counts for the normalisation)
        self.time_normalise_counts(n_classes)
        self.time_bernoulli_tables(n_classes)
        self.time_make_blocks(n_classes)

    def time_joint_log_likelihood(self, n_classes):
        kernels.joint_log_likelihood(*self.args, self.log_prior, self.log_prob, self.bounds, self.jll)

    def time_blocked_jll(self, n_classes):
        """The joint log-likelihood over the blocked copy (the E phase's loops)."""
        blocks_jll(self.blocks, self.log_prior, self.log_prob, self.n_samples)

    def time_blocked_add_jll(self, n_classes):
        """The k-means++ seeding's pass: 30 candidates, over their words only
        (the same for every n_classes but for the blocks' size)."""
        blocks_add_jll(self.blocks, self.col_map, self.deltas, self.candidate_jll)

    def time_log_posterior(self, n_classes):
        kernels.log_posterior(self.jll, self.resp, self.log_norm)

    def time_scatter_counts(self, n_classes):
        kernels.scatter_counts(*self.args, self.resp, self.weight, self.bounds, self.counts,
                               self.class_counts)

    def time_em_pass(self, n_classes):
        """The fused E+M pass of every EM iteration (over the blocked copy)."""
        b = self.blocks
        blocked.blocked_em_pass(b.rows_per_block, self.n_samples, *b[1:], self.weight, self.labels,
                                self.label_bounds, self.log_prior, self.log_prob, self.counts,
                                self.class_counts)

    def time_normalise_counts(self, n_classes):
        """The multinomial M-step: smoothed log-probabilities from the counts."""
        smoothed_log_prob(self.counts, 0.1, self.table, self.counts.shape[0])

    def time_bernoulli_tables(self, n_classes):
        """BernoulliMixture's E-step tables from its means (log-odds, sums)."""
        bernoulli_tables(self.means, self.table)

    def time_make_blocks(self, n_classes):
        """The blocked copy of the matrix, made once per fit."""
        make_blocks(self.csr, n_classes, numba.get_num_threads())


class FirstCall:
    """Import plus a first small fit in a fresh interpreter (JIT compile or cache load)."""
    timeout = 300
    number = 1
    repeat = 3

    def time_import_and_first_fit(self):
        code = ("import numpy as np; from fastem import NaiveBayesEM; "
                "from fastem.datasets import make_corpus; "
                "X, y, _ = make_corpus(200, 50, 3, 20, random_state=0); y[20:] = -1; "
                "NaiveBayesEM(max_iter=5).fit(X, y).predict(X)")
        subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
