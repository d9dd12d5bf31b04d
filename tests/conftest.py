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


@pytest.fixture(params=[0, 2, None], ids=["runs", "2hot", "allhot"])
def n_hot(request):
    """Hot words of the blocked copy (``make_blocks``): none (every word in
    column runs), two, or the default (every word of a small fixture)."""
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


#: every kernel an estimator's fit or predict may call on user data
GUARDED_KERNELS = {
    "fastem._kernels.csr": ("joint_log_likelihood", "log_posterior", "scatter_counts",
                            "grouped_counts", "group_rows"),
    "fastem._kernels.blocked": ("block_sizes", "fill_blocks", "blocked_em_pass"),
}


def guard_kernels(monkeypatch, calls=None):
    """Replace every kernel in ``GUARDED_KERNELS`` with one that fails the test
    (recording its name in ``calls``): errors must come from validation."""
    import importlib

    def make(name):
        def kernel(*args, **kwargs):
            if calls is not None:
                calls.append(name)
            raise AssertionError(f"kernel {name} ran on invalid input")
        return kernel

    for module_name, names in GUARDED_KERNELS.items():
        module = importlib.import_module(module_name)
        for name in names:
            monkeypatch.setattr(module, name, make(name))


@pytest.fixture
def no_kernels(monkeypatch):
    """No kernel may run in the test; yields the names of those that tried."""
    calls = []
    guard_kernels(monkeypatch, calls)
    yield calls
    assert calls == []
