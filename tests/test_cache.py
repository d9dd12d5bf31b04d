"""Numba's on-disk cache of the parallel kernels is safe across thread counts.

Kernels are compiled with ``cache=True``. A cache written by a process running
2 threads is loaded by processes running 1 and 2 threads; each must load every
kernel from the cache (no recompilation) and reach the same fit.
"""
import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, warnings
import numpy as np
from fastem import NaiveBayesEM
from fastem._kernels import blocked, csr
from fastem.datasets import make_corpus
X, y, _ = make_corpus(400, 60, 3, 30, random_state=0)
y[40:] = -1
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = NaiveBayesEM(max_iter=5, tol=0).fit(X, y)
proba = model.predict_proba(X)
kernels = [blocked.blocked_em_pass, blocked.fill_blocks, csr.joint_log_likelihood,
           csr.log_posterior]
print(json.dumps({
    "lower_bounds": model.lower_bounds_.tolist(),
    "proba": proba.ravel().tolist(),
    "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
    "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels),
}))
"""


def _run(cache_dir, n_threads):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS=str(n_threads))
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_parallel_kernel_cache_is_safe_across_thread_counts(tmp_path):
    cold = _run(tmp_path, 2)
    assert cold["misses"] > 0  # compiled and written to the fresh cache
    for n_threads in (1, 2):
        warm = _run(tmp_path, n_threads)
        assert warm["misses"] == 0 and warm["hits"] > 0, warm
        np.testing.assert_allclose(warm["lower_bounds"], cold["lower_bounds"], rtol=1e-12)
        np.testing.assert_allclose(warm["proba"], cold["proba"], rtol=1e-12, atol=1e-15)
