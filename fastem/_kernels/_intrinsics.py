"""Low-level helpers Numba does not offer: software prefetch and an exp that
vectorises.

The M-step updates one row of a [n_features, K] table per non-zero, in the
random order of the words of each document. For rare words those rows miss
the core's caches; asking for them a few non-zeros ahead lets the misses
overlap (measured: 1.2x on the scatter at K=20 over 100k words). The E-step
reads the same rows but gains nothing from hints once its loop handles four
non-zeros at a time (measured: the hints made it slower at every K).
"""
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._config import JIT

#: how many non-zeros ahead rows are requested
PREFETCH_DISTANCE = 32
#: the M-step scatter prefetches only tables larger than this (about two L2
#: caches): smaller ones stay in cache and the hints just cost instructions
PREFETCH_MIN_BYTES = 4 << 20
#: cache line size in bytes
CACHE_LINE = 64


def _make_prefetch(write, ndim):
    @intrinsic
    def prefetch(typingctx, array, *index):
        """Hint the CPU to fetch the cache line holding ``array[index]``."""
        if (not isinstance(array, types.Array) or array.ndim != ndim
                or len(index) != ndim or not all(isinstance(i, types.Integer) for i in index)):
            return None
        sig = types.void(array, types.StarArgTuple(index))

        def codegen(context, builder, signature, args):
            arrty, index_ty = signature.args
            arr = context.make_array(arrty)(context, builder, args[0])
            values = cgutils.unpack_tuple(builder, args[1], ndim)
            idx = [context.cast(builder, v, t, types.intp) for v, t in zip(values, index_ty)]
            ptr = cgutils.get_item_pointer(context, builder, arrty, arr, idx, wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0i8")
            # (address, rw, locality 3 = keep in all cache levels, data cache)
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, int(write)),
                              ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen

    return prefetch


if numba.config.DISABLE_JIT:
    # Pure-Python execution (coverage runs): a hint has no semantics to keep.
    def prefetch_write(array, *index):
        pass

    prefetch_1d = prefetch_write
else:
    #: ``prefetch_write(table, row, col)``: a 2-D table's line, for writing
    prefetch_write = _make_prefetch(write=True, ndim=2)
    #: ``prefetch_1d(array, i)``: the line of ``array[i]``, for reading
    prefetch_1d = _make_prefetch(write=False, ndim=1)


# ---------------------------------------------------------------------------
# exp that vectorises
# ---------------------------------------------------------------------------
# Numba's math.exp is a call into libm, one value at a time, and the llvmlite
# wheels carry no vector math library; in the posterior of a row (K
# exponentials) that call is a large share of the E-step. ``vexp`` is plain
# arithmetic that LLVM vectorises: Cody-Waite reduction x = n ln2 + r with
# |r| <= ln2/2, a degree-13 Taylor polynomial for exp(r) (truncation error
# below 5e-18 relative), and the scale 2^n built from its bits in two halves,
# so that subnormal results come out right. Error: within 1 ulp of the
# correctly rounded value (tested against numpy over the whole range).

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -745.2  # exp(x) rounds to 0 below about -745.13
_EXP_MAX = 709.782712893384  # exp(x) overflows above log(DBL_MAX)


if numba.config.DISABLE_JIT:
    def fma(a, b, c):
        return a * b + c

    def float_bits(x):
        return int(np.float64(x).view(np.int64))

    def bits_float(n):
        return float(np.int64(n).view(np.float64))
else:
    @intrinsic
    def fma(typingctx, a, b, c):
        """``a * b + c`` rounded once (``llvm.fma``); fast-math cannot split it."""
        if not all(isinstance(t, types.Float) for t in (a, b, c)):
            return None
        sig = types.float64(a, b, c)

        def codegen(context, builder, signature, args):
            values = [context.cast(builder, v, t, types.float64)
                      for v, t in zip(args, signature.args)]
            ty = ir.DoubleType()
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3),
                                                "llvm.fma.f64")
            return builder.call(fn, values)

        return sig, codegen

    def _make_bitcast(source, target, target_ir, doc):
        @intrinsic
        def bitcast(typingctx, value):
            if not isinstance(value, (types.Float if source is types.float64 else types.Integer)):
                return None
            sig = target(value)

            def codegen(context, builder, signature, args):
                x = context.cast(builder, args[0], signature.args[0], source)
                return builder.bitcast(x, target_ir)

            return sig, codegen

        bitcast.__doc__ = doc
        return bitcast

    float_bits = _make_bitcast(types.float64, types.int64, ir.IntType(64),
                               "The IEEE-754 bits of a float64, as an int64.")
    bits_float = _make_bitcast(types.int64, types.float64, ir.DoubleType(),
                               "The float64 whose IEEE-754 bits are the int64 ``n``.")

_TWO_M64 = 2.0 ** -64
#: 1/13!, 1/12!, ..., 1/1!, 1/0!: exp(r) to degree 13, highest first
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))
#: 2/23, 2/21, ..., 2/3: log m = 2f + f t p(t) with t = f^2, highest first
_ATANH_SERIES = tuple(2.0 / (2 * n + 1) for n in range(11, 0, -1))


@numba.njit(**JIT)
def _horner(x, coefficients):
    """``sum_i coefficients[i] x^(n - i)`` (highest power first), unrolled."""
    p = 0.0
    for c in coefficients:
        p = p * x + c
    return p


@numba.njit(**JIT)
def vexp(x):
    """``exp(x)`` in float64 as arithmetic LLVM can vectorise (see above)."""
    y = min(max(x, _EXP_MIN), _EXP_MAX)
    y = 0.0 if x != x else y  # NaN (returned below; math.floor(NaN) raises without JIT)
    k = math.floor(y * _LOG2E + 0.5)
    n = -np.float64(k)
    r = fma(n, _LN2_LO, fma(n, _LN2_HI, y))
    p = _horner(r, _EXP_TAYLOR)
    # results below 2^-1022 are made 2^64 larger, then scaled down (one rounding)
    tiny = k < -1000
    # p * 2^k by adding k to the exponent bits of p: integer arithmetic, so no
    # fast-math flag can reorder it, and exact while the result is normal
    value = bits_float(float_bits(p) + ((k + 64 if tiny else k) << 52))
    value = value * _TWO_M64 if tiny else value
    value = 0.0 if x < _EXP_MIN else value
    value = np.inf if x > _EXP_MAX else value
    return x if x != x else value  # NaN stays NaN


# log that vectorises: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
# log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, from its odd series
# up to f^23 (truncation below 1e-17 relative); e ln 2 in two parts.
_SQRT2 = 1.4142135623730951
_MANTISSA = (1 << 52) - 1
_TWO_P52 = 2.0 ** 52


@numba.njit(**dict(JIT, error_model="numpy"))  # no ZeroDivisionError branch: it vectorises
def vlog(x):
    """``log(x)`` in float64 as arithmetic LLVM can vectorise; within 2 ulp
    (tested against numpy), with log(0) = -inf, log(inf) = inf, NaN below 0."""
    subnormal = x < 2.2250738585072014e-308
    y = x * _TWO_P52 if subnormal else x
    bits = float_bits(y)
    e = (bits >> 52) - 1023
    m = bits_float((bits & _MANTISSA) | (1023 << 52))  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    e = e - 52 if subnormal else e
    f = (m - 1.0) / (m + 1.0)
    t = f * f
    p = _horner(t, _ATANH_SERIES)
    ef = np.float64(e)
    # 2f + f t p(t) + e ln2, smallest terms first
    value = fma(ef, _LN2_HI, fma(f * t, p, fma(ef, _LN2_LO, 2.0 * f)))
    value = -np.inf if x == 0.0 else value
    value = np.inf if x == np.inf else value
    return np.nan if not x >= 0.0 else value
