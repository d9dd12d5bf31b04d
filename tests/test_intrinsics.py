"""The vectorisable exp (``fastem._kernels._intrinsics.vexp``) against numpy's."""
import numpy as np
import pytest
from numba import njit

from fastem._config import JIT
from fastem._kernels._intrinsics import vexp


@njit(**JIT)
def _vexp_array(x, out):
    for i in range(x.shape[0]):  # the loop the kernels vectorise
        out[i] = vexp(x[i])


def _vexp(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _vexp_array(x, out)
    return out


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize("low, high", [(-760.0, 720.0), (-40.0, 0.0), (-1e-3, 1e-3),
                                       (-745.2, -700.0), (700.0, 709.8)])
def test_within_one_ulp_of_numpy(low, high):
    x = np.random.default_rng(0).uniform(low, high, 200_001)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = _vexp(x)
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite], want[~finite])
    assert _ulps(got[finite], want[finite]).max() <= 1.0


def test_special_values():
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, -745.2, -745.13, -745.0,
                  -708.4, 709.78, 709.8, 1e-300, -1e-300, 5e-324])
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = _vexp(x)
    assert np.isnan(got[2])
    keep = ~np.isnan(want)
    assert _ulps(got[keep], want[keep])[np.isfinite(want[keep])].max() <= 1.0
    assert np.array_equal(got[keep][~np.isfinite(want[keep])], want[keep][~np.isfinite(want[keep])])
    assert got[0] == 0.0 and got[1] == np.inf and got[3] == 1.0 and got[7] == 0.0
    assert got[9] == want[9] > 0.0  # the smallest subnormal results survive
