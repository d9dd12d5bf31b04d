"""Test-suite settings shared by every test file."""
import os
import sys

from hypothesis import settings
import numba
import numpy as np
import pytest

# tests import the slow reference implementations as ``reference``
sys.path.insert(0, os.path.dirname(__file__))

# Property tests draw the same examples on every run (no example database,
# no wall-clock deadline: JIT compilation happens inside the first example).
settings.register_profile("fastem", derandomize=True, database=None, deadline=None)
settings.load_profile("fastem")


# ---------------------------------------------------------------------------
# fixtures shared by the kernel and estimator tests
# ---------------------------------------------------------------------------

@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def data_dtype(request):
    return request.param


@pytest.fixture(params=[np.int32, np.int64], ids=["i32", "i64"])
def index_dtype(request):
    return request.param


@pytest.fixture(params=[1, 2], ids=["1thr", "2thr"])
def n_threads(request):
    """Set Numba's thread count (used as the number of chunks), restore after."""
    n = request.param
    if n > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"Numba started with {numba.config.NUMBA_NUM_THREADS} thread(s)")
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
