"""The vectorisable exp and log (``fastem._kernels._intrinsics``) against numpy's."""
import numpy as np
import pytest
from numba import njit

from fastem._config import JIT
from fastem._kernels._intrinsics import vexp, vlog, vlog1m, vlog_normal


def _elementwise(fn):
    """``fn`` applied to a float64 array in the loop the kernels vectorise."""
    @njit(**JIT)
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    def apply(x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty_like(x)
        loop(x, out)
        return out

    return apply


_vexp = _elementwise(vexp)
_vlog = _elementwise(vlog)


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
                  -708.4, 709.78, 709.8, 1e-300, -1e-300, 5e-324,
                  np.nextafter(-745.2, -np.inf), -800.0, -1e300])
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = _vexp(x)
    assert np.isnan(got[2])
    finite = np.isfinite(want)
    assert _ulps(got[finite], want[finite]).max() <= 1.0
    assert np.array_equal(got[~finite], want[~finite], equal_nan=True)
    assert got[0] == 0.0 and got[1] == np.inf and got[3] == 1.0 and got[7] == 0.0
    assert got[9] == want[9] > 0.0  # the smallest subnormal results survive
    assert np.array_equal(got[-3:], [0.0, 0.0, 0.0])  # below -745.2 (reduced as 0 since)


@pytest.mark.parametrize("sampler", [
    lambda rng, n: np.exp(rng.uniform(-745.0, 709.7, n)),   # every binade, subnormals too
    lambda rng, n: rng.uniform(0.5, 2.0, n),                # around 1, where log is small
    lambda rng, n: 1.0 + rng.uniform(-1e-6, 1e-6, n),
    lambda rng, n: rng.uniform(1.0, 1e6, n),
])
def test_vlog_within_two_ulp_of_numpy(sampler):
    x = sampler(np.random.default_rng(1), 200_001)
    want = np.log(x)
    got = _vlog(x)
    nonzero = want != 0
    assert _ulps(got[nonzero], want[nonzero]).max() <= 2.0
    assert np.all(got[~nonzero] == 0.0)


def test_vlog_special_values():
    x = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1.0, 2.0, 5e-324, 1e-310,
                  2.2250738585072014e-308, 1.7976931348623157e308])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    got = _vlog(x)
    finite = np.isfinite(want) & (want != 0)
    assert _ulps(got[finite], want[finite]).max() <= 2.0
    assert got[0] == -np.inf and got[1] == -np.inf and np.isnan(got[2]) and np.isnan(got[3])
    assert got[4] == np.inf and np.isnan(got[5]) and got[6] == 0.0


def test_vlog_normal_is_vlog_on_positive_normal_numbers():
    """The fast variant for loops whose inputs are all positive, normal and
    finite: the same bits as ``vlog`` there."""
    rng = np.random.default_rng(2)
    x = np.concatenate([np.exp(rng.uniform(-708.3, 709.7, 200_001)), rng.uniform(0.5, 2.0, 10_001),
                        [2.2250738585072014e-308, 1.7976931348623157e308, 1.0, 2.0, 0.5]])
    assert np.array_equal(_elementwise(vlog_normal)(x), _vlog(x))


_vlog1m = _elementwise(vlog1m)


@pytest.mark.parametrize("sampler", [
    lambda rng, n: rng.uniform(0.0, 1.0, n),
    lambda rng, n: np.exp(rng.uniform(-700.0, 0.0, n)),      # tiny x: log1p's own domain
    lambda rng, n: 1.0 - np.exp(rng.uniform(-36.0, 0.0, n)),  # up to 1 - 2^-52
    lambda rng, n: rng.uniform(0.28, 0.31, n),                 # where the ways meet:
    lambda rng, n: rng.uniform(0.63, 0.66, n),                 # 1 - 1/sqrt(2), 1 - 1/sqrt(8)
    lambda rng, n: rng.uniform(-0.41, 0.0, n),                 # (3 ulp further down)
])
def test_vlog1m_within_two_ulp_of_log1p(sampler):
    x = sampler(np.random.default_rng(2), 200_001)
    want = np.log1p(-x)
    got = _vlog1m(x)
    nonzero = want != 0
    assert _ulps(got[nonzero], want[nonzero]).max() <= 2.0
    assert np.all(got[~nonzero] == 0.0)


def test_vlog1m_special_values():
    x = np.array([0.0, -0.0, 1.0, 1.5, np.nan, -np.inf, 1e-300, 5e-324, 0.5, 1.0 - 2.0 ** -53])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log1p(-x)
    got = _vlog1m(x)
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] == -np.inf
    assert np.isnan(got[3]) and np.isnan(got[4]) and got[5] == np.inf
    finite = np.isfinite(want) & (want != 0)
    assert _ulps(got[finite], want[finite]).max() <= 2.0
