"""Low-level helpers Numba does not offer: software prefetch, an exp and a
log that vectorise, and the vector loops over one column run of the blocked
EM pass.

The M-step updates one row of a [n_features, K] table per non-zero, in the
random order of the words of each document. For rare words those rows miss
the core's caches; asking for them a few non-zeros ahead lets the misses
overlap (measured: 1.2x on the scatter at K=20 over 100k words). The E-step
reads the same rows but gains nothing from hints once its loop handles four
non-zeros at a time (measured: the hints made it slower at every K). In the
blocked pass, the E phase's scatters ask for the block buffer's rows a few
entries ahead instead (see BUF_PREFETCH_DISTANCE).
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


def _emit_prefetch(builder, ptr, write):
    """IR asking for the cache line at ``ptr`` (``write``: to store to it),
    to be kept in all cache levels."""
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
    # (address, rw, locality 3 = keep in all cache levels, data cache)
    builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, int(write)), ir.Constant(i32, 3),
                      ir.Constant(i32, 1)])


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
            _emit_prefetch(builder, ptr, write)
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
    # x below _EXP_MIN (result 0, selected below) and NaN (returned below;
    # math.floor(NaN) raises without JIT) reduce 0 instead: clamped to
    # _EXP_MIN, their lanes formed a subnormal 2^k that was then thrown away,
    # and every vector op on a subnormal takes a microcode assist (measured:
    # 16.3 against 2.6 ns a value, and 8.1 against 1.8 with 15% of values
    # underflowing, as in the posteriors of a fit that has separated its
    # components)
    y = min(x, _EXP_MAX) if x >= _EXP_MIN else 0.0
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


@numba.njit(**JIT)
def _atanh_terms(f):
    """``(f t, p(t))``, ``t = f^2``: ``2 atanh(f) = log((1 + f) / (1 - f)) =
    2f + f t p(t)`` for ``|f| <= 0.1716``."""
    t = f * f
    return f * t, _horner(t, _ATANH_SERIES)


@numba.njit(**JIT)
def _log_reduce(y):
    """``(e, m)`` with ``y = 2^e m``, ``m`` in [1/sqrt(2), sqrt(2)], for a
    positive normal ``y`` (from its bits)."""
    bits = float_bits(y)
    e = (bits >> 52) - 1023
    m = bits_float((bits & _MANTISSA) | (1023 << 52))  # in [1, 2)
    big = m > _SQRT2
    return (e + 1 if big else e), (m * 0.5 if big else m)


@numba.njit(**JIT)
def _log_sum(e, f):
    """``e ln 2 + 2 atanh(f)`` (``e`` a float), smallest terms first."""
    ft, p = _atanh_terms(f)
    return fma(e, _LN2_HI, fma(ft, p, fma(e, _LN2_LO, 2.0 * f)))


#: the smallest positive normal float64
_TINY = 2.2250738585072014e-308


@numba.njit(**dict(JIT, error_model="numpy"))  # no ZeroDivisionError branch: it vectorises
def _log_reduced(e, m):
    """``log(2^e m)`` from ``_log_reduce``'s ``(e, m)`` (``e`` an integer)."""
    return _log_sum(np.float64(e), (m - 1.0) / (m + 1.0))


@numba.njit(**dict(JIT, error_model="numpy"))
def vlog(x):
    """``log(x)`` in float64 as arithmetic LLVM can vectorise; within 2 ulp
    (tested against numpy), with log(0) = -inf, log(inf) = inf, NaN below 0."""
    subnormal = x < _TINY
    e, m = _log_reduce(x * _TWO_P52 if subnormal else x)
    value = _log_reduced(e - 52 if subnormal else e, m)
    value = -np.inf if x == 0.0 else value
    value = np.inf if x == np.inf else value
    return np.nan if not x >= 0.0 else value


@numba.njit(**dict(JIT, error_model="numpy"))
def vlog_normal(x):
    """``vlog(x)`` for a positive, normal, finite ``x`` (bitwise the same),
    without the selects for the other values: for loops whose every input is
    known to be such a number (the smoothed counts of ``smoothed_log_prob``).
    Measured in a variant of that kernel's loop on a [76595, 20] table, 2
    threads (AMD Zen 5), in turns in one process: 0.77 -> 0.55 ms."""
    e, m = _log_reduce(x)
    return _log_reduced(e, m)


# log(1 - x) reduces y = 1 - x as vlog does, but where forming 1 - x would
# round (x < 1/2) takes the reduced f from x itself: for 1 - x in
# (1/sqrt(2), sqrt(2)) e = 0 and f = -x / (2 - x); for 1 - x in
# (1/(2 sqrt(2)), 1/sqrt(2)] e = -1 and f = (1 - 2x) / (3 - 2x), whose 1 - 2x
# is exact (Sterbenz). Elsewhere 1 - x is exact (x >= 1/2) or x < 0.
_LOG1M_LO = 1.0 - _SQRT2
_LOG1M_MID = 1.0 - 1.0 / _SQRT2
_LOG1M_HI = 1.0 - 0.5 / _SQRT2


@numba.njit(**dict(JIT, error_model="numpy"))
def vlog1m(x):
    """``log(1 - x)`` (numpy's ``log1p(-x)``) in float64 as arithmetic LLVM
    can vectorise; within 2 ulp for x in [0, 1] (tested against numpy; 3 for
    x below -0.41), -inf at 1, NaN above it."""
    y = 1.0 - x  # (>= 2^-53 unless 0: never subnormal)
    e, m = _log_reduce(y)
    near = (x > _LOG1M_LO) & (x < _LOG1M_MID)
    mid = (x >= _LOG1M_MID) & (x < _LOG1M_HI)
    # one division, of the numerator and denominator of the way that applies,
    # every candidate computed first and then selected (arithmetic inside the
    # arms of a conditional kept the loop scalar: 7.5 against 0.8 ns a value)
    far_num, far_den = m - 1.0, m + 1.0
    mid_num, mid_den = 1.0 - 2.0 * x, 3.0 - 2.0 * x
    near_num, near_den = -x, 2.0 - x
    numerator = mid_num if mid else far_num
    denominator = mid_den if mid else far_den
    numerator = near_num if near else numerator
    denominator = near_den if near else denominator
    ef = np.float64(e)
    ef = -1.0 if mid else ef
    ef = 0.0 if near else ef
    value = _log_sum(ef, numerator / denominator)
    value = -np.inf if y == 0.0 else value
    value = np.inf if y == np.inf else value
    return np.nan if not y >= 0.0 else value


# ---------------------------------------------------------------------------
# column runs of the blocked EM pass
# ---------------------------------------------------------------------------
# The blocked pass (``fastem._kernels.blocked``) spends its time in one loop
# shape: the entries ``e`` of one column ``w`` of a row block, each adding
# ``|ent_val[e]|`` times one [K] row to another. Written as Numba loops over k,
# LLVM vectorises each row update on its own: per entry it re-checks that the
# two rows do not overlap, runs a vector loop and its remainder, and the M
# phase reads and writes ``counts[w]`` through memory for every entry
# (measured at K = 20: about 20 cycles per entry, with the rows in L1). Here
# the loop over the run is emitted as LLVM IR with the column's side held in
# vector registers for the whole run: per entry, one load (and, scattering, one
# store) of each vector of the other row and one fused multiply-add.
# Measured on the 9M-entry benchmark corpus at K = 20, 2 threads: E phase
# 29 -> 18 ms, M phase 29 -> 16 ms. Every value gets one fused multiply-add
# per entry, in entry order (the Numba loops it replaces agree to 7e-16
# relative: LLVM did not fuse every one of theirs). ``block_scatter`` is the
# E phase's variant for small K: it reloads the table row per entry instead
# of holding it, and so walks all of a block's runs in one loop (see
# FLAT_MAX_WIDTH).

#: float64 lanes per vector (one AVX2 register) ...
RUN_LANES = 4
#: ... and vectors held per call: one call covers RUN_WIDTH columns of the
#: tables (K > RUN_WIDTH takes several calls). 4 x 8 was faster than 8 x 4
#: (zmm) at K = 20.
RUN_VECTORS = 8
RUN_WIDTH = RUN_LANES * RUN_VECTORS

# The entries of the blocked copy (see ``fastem._kernels.blocked``) have
# positive values, and the first entry of each column's run is stored
# negated: ``block_scatter`` finds the run starts from the sign bits, without
# a branch, and every loop here reads ``abs(ent_val[e])``.

#: The scatters (E phase) ask for the buffer row of the entry this many
#: entries ahead, when a call covers at least BUF_PREFETCH_MIN_WIDTH columns
#: (a cache line of float64). A buffer of 1 - 4 MiB is in the L2 or the L3,
#: and each entry stores to its row: without the hint the stores wait for
#: their lines and fill the store queue. The reads (M phase) overlap without
#: one (a hint there made the pass slower). Measured on the benchmark
#: corpus, 4 MiB blocks, 2 threads, AMD EPYC (Zen 3, 512 KiB L2), both
#: versions compiled in one process and timed in turns (11-15 each, median
#: without / with, the results bitwise the same): the whole pass K=8 60/56 ms,
#: K=16 113/93, K=20 148/123 (its scatter alone 89/61), K=50 305/297, K=100
#: 599/569; with a hint at any width, K=2 33/35 and K=5 49/47.
BUF_PREFETCH_DISTANCE = 16
BUF_PREFETCH_MIN_WIDTH = 8

#: the E phase walks a block with ``block_scatter`` when K is at most this,
#: and run by run with ``column_scatter`` for more. Per entry,
#: ``block_scatter`` loads the table row again (K / 4 more loads, from L1 but
#: for a run's first entry); ``column_scatter`` pays one mispredicted loop
#: exit per run (runs average 9 entries on the benchmark corpus). The scatter
#: alone on that corpus, 2 threads, ms (column runs / a prototype of
#: block_scatter): K=5 8.9/7.6, K=8 11.1/9.5, K=16 17.3/15.1, K=20 20.1/16.0,
#: K=24 21.6/20.8, K=28 23.6/26.5, K=32 28.5/32.6; the whole E phase (with
#: the posteriors) K=5 10.2/9.2, K=16 18.6/17.5, K=20 20.0/19.3.
FLAT_MAX_WIDTH = 24

#: ``block_scatter_ahead`` asks, at every entry, for the table row of the run
#: this many runs ahead: for blocks whose runs are short (see
#: ``fastem._kernels.blocked.SHORT_RUNS``), where a run's table row, read
#: from beyond L2 at its first entry, is not paid for by many entries.
TABLE_PREFETCH_RUNS = 8


def _splat(builder, value, vector_type):
    """``value`` in every lane of a ``vector_type``."""
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value,
                                 ir.Constant(i32, 0))
    zeros = ir.Constant(ir.VectorType(i32, vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(one, one, zeros)


def _pieces(width):
    """``(offset, lanes)`` of the accesses that cover ``width`` columns exactly:
    full vectors of RUN_LANES, then a pair and/or a single value. Nothing
    reaches past the row: a masked vector that did (as this code once used)
    overlaps the next row's first values, and a load from a row just after a
    row that was stored then waits for that store to reach the cache (no
    forwarding from masked stores). Sorted rows of a frequent word are
    often neighbours: measured at K=2, about 13 cycles per entry instead of 5."""
    pieces = [(offset, RUN_LANES) for offset in range(0, width - RUN_LANES + 1, RUN_LANES)]
    done = len(pieces) * RUN_LANES
    if width - done >= 2:
        pieces.append((done, 2))
        done += 2
    if width - done == 1:
        pieces.append((done, 1))
    return pieces


class _Emit:
    """What the column-run codegens share: value types, typed loads and
    stores of row pieces (as float64), fused multiply-adds and integer
    constants, for one ``builder``."""

    def __init__(self, context, builder):
        self.context, self.builder = context, builder
        self.intp = context.get_value_type(types.intp)

    def const(self, n):
        return ir.Constant(self.intp, n)

    def as_intp(self, value, ty):
        return self.context.cast(self.builder, value, ty, types.intp)

    @staticmethod
    def value_type(lanes):
        return ir.DoubleType() if lanes == 1 else ir.VectorType(ir.DoubleType(), lanes)

    def piece_io(self, element_ty, lanes):
        """(load, store) of ``lanes`` values of ``element_ty`` at a pointer to
        an element, as float64 (a scalar when ``lanes`` is 1)."""
        builder = self.builder
        el = self.context.get_value_type(element_ty)
        ty = el if lanes == 1 else ir.VectorType(el, lanes)
        align = element_ty.bitwidth // 8
        f64 = ir.DoubleType()

        def load(ptr):
            value = builder.load(builder.bitcast(ptr, ty.as_pointer()), align=align)
            return value if el == f64 else builder.fpext(value, self.value_type(lanes))

        def store(value, ptr):
            value = value if el == f64 else builder.fptrunc(value, ty)
            builder.store(value, builder.bitcast(ptr, ty.as_pointer()), align=align)

        return load, store

    def fma(self, a, b, c, lanes):
        name = "llvm.fma.f64" if lanes == 1 else f"llvm.fma.v{lanes}f64"
        ty = self.value_type(lanes)
        fn = cgutils.get_or_insert_function(self.builder.module, ir.FunctionType(ty, [ty] * 3),
                                            name)
        return self.builder.call(fn, [a, b, c])

    def width(self, table, k0):
        """``min(RUN_WIDTH, table.shape[1] - k0)``: the columns of one call."""
        builder = self.builder
        width = builder.sub(builder.extract_value(table.shape, 1), k0)
        return builder.select(builder.icmp_signed(">", width, self.const(RUN_WIDTH)),
                              self.const(RUN_WIDTH), width)

    def row_index(self, rows, row_ty, e):
        """``ent_row[e]`` as intp."""
        r = self.builder.load(self.builder.gep(rows.data, [e]))
        return (self.builder.sext(r, self.intp) if row_ty.dtype.signed
                else self.builder.zext(r, self.intp))

    def entry(self, rows, row_ty, vals, val_ty, e):
        """``(ent_row[e] as intp, abs(ent_val[e]) as float64, whether the
        sign bit of ent_val[e] is set, as intp 0 or 1)``."""
        builder = self.builder
        r = self.row_index(rows, row_ty, e)
        stored = builder.load(builder.gep(vals.data, [e]))
        # the sign bit, read as an integer: a comparison with 0.0 would miss a
        # negated subnormal when the CPU reads subnormals as zero (DAZ)
        bits = ir.IntType(val_ty.dtype.bitwidth)
        starts = builder.zext(builder.icmp_signed("<", builder.bitcast(stored, bits),
                                                  ir.Constant(bits, 0)), self.intp)
        x = self.context.cast(builder, stored, val_ty.dtype, types.float64)
        fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(x.type, [x.type]),
                                              "llvm.fabs.f64")
        return r, builder.call(fabs, [x]), starts

    def buf_row(self, buf_col, buf_stride, buf_ty, r):
        """Pointer to ``buf[r, k0]`` (``buf_col``: ``buf.data + k0`` as i8*)."""
        builder = self.builder
        row = builder.gep(buf_col, [builder.mul(r, buf_stride)])
        return builder.bitcast(row, self.context.get_value_type(buf_ty.dtype).as_pointer())

    def prefetch_buf_row(self, rows, row_ty, buf_col, buf_stride, buf_ty, e, stop, count):
        """When ``count`` columns fill a cache line at least, ask for the
        buffer row of entry ``e + BUF_PREFETCH_DISTANCE`` (of ``e`` past
        ``stop``), every line of its ``count`` values, for writing."""
        if count < BUF_PREFETCH_MIN_WIDTH:
            return
        builder = self.builder
        ahead = builder.add(e, self.const(BUF_PREFETCH_DISTANCE))
        ahead = builder.select(builder.icmp_signed("<", ahead, stop), ahead, e)
        row = self.buf_row(buf_col, buf_stride, buf_ty, self.row_index(rows, row_ty, ahead))
        row = builder.bitcast(row, ir.IntType(8).as_pointer())
        nbytes = 8 * count  # the row's first byte, one per line after it, and its last
        for offset in sorted(set(range(0, nbytes, CACHE_LINE)) | {nbytes - 1}):
            _emit_prefetch(builder, builder.gep(row, [self.const(offset)]), write=True)

    def prefetch_table_row(self, cols, cols_ty, table_col, table_stride, d, ahead, nbytes):
        """Ask for the ``nbytes`` bytes of the table row of run ``d + ahead``
        (of the last run of ``cols`` past its end), every line, for reading."""
        builder = self.builder
        last = builder.sub(builder.extract_value(cols.shape, 0), self.const(1))
        d_ahead = builder.add(d, self.const(ahead))
        d_ahead = builder.select(builder.icmp_signed("<", d_ahead, last), d_ahead, last)
        w = self.as_intp(builder.load(builder.gep(cols.data, [d_ahead])), cols_ty.dtype)
        row = builder.gep(table_col, [builder.mul(w, table_stride)])
        for offset in sorted(set(range(0, nbytes, CACHE_LINE)) | {nbytes - 1}):
            _emit_prefetch(builder, builder.gep(row, [self.const(offset)]), write=False)

    def entry_loop(self, count, start, stop, carried):
        """Open a loop over ``e`` in ``start:stop`` that carries the values
        ``carried`` (their values on entry) and leave the builder in its body.
        Returns ``(e, phis, close)``: ``close(updated)`` ends the body with
        the carried values' next values and leaves the builder after the
        loop, where ``phis`` hold their last values."""
        builder = self.builder
        bb_pre = builder.block
        bb_cond = builder.append_basic_block(f"run.w{count}.cond")
        bb_body = builder.append_basic_block(f"run.w{count}.body")
        bb_done = builder.append_basic_block(f"run.w{count}.done")
        builder.branch(bb_cond)
        builder.position_at_end(bb_cond)
        e = builder.phi(self.intp)
        e.add_incoming(start, bb_pre)
        phis = []
        for value in carried:
            phi = builder.phi(value.type)
            phi.add_incoming(value, bb_pre)
            phis.append(phi)
        builder.cbranch(builder.icmp_signed("<", e, stop), bb_body, bb_done)
        builder.position_at_end(bb_body)

        def close(updated):
            e.add_incoming(builder.add(e, self.const(1)), builder.block)
            for phi, value in zip(phis, updated):
                phi.add_incoming(value, builder.block)
            builder.branch(bb_cond)
            builder.position_at_end(bb_done)

        return e, phis, close

    def switch_on_width(self, width, emit_case):
        """Branch once on ``width`` (1 .. RUN_WIDTH) to a loop emitted for that
        width by ``emit_case(count, pieces)``, so that the values of a row stay
        in registers; returns to the block after the switch."""
        builder = self.builder
        bb_end = builder.append_basic_block("run.end")
        switch = builder.switch(width, bb_end)
        for count in range(1, RUN_WIDTH + 1):
            bb_case = builder.append_basic_block(f"run.w{count}")
            switch.add_case(self.const(count), bb_case)
            builder.position_at_end(bb_case)
            emit_case(count, _pieces(count))
            builder.branch(bb_end)
        builder.position_at_end(bb_end)


def _column_run_codegen(scatter, buf_ahead, context, builder, signature, args):
    """IR of ``column_gather`` / ``column_scatter`` (see ``_make_column_run``);
    ``buf_ahead``: a scatter asks for the buffer rows ahead."""
    table_ty, w_ty, buf_ty, row_ty, val_ty, start_ty, stop_ty, k0_ty = signature.args
    table_v, w_v, buf_v, row_v, val_v, start_v, stop_v, k0_v = args
    em = _Emit(context, builder)
    const = em.const
    table = context.make_array(table_ty)(context, builder, table_v)
    buf = context.make_array(buf_ty)(context, builder, buf_v)
    rows = context.make_array(row_ty)(context, builder, row_v)
    vals = context.make_array(val_ty)(context, builder, val_v)
    k0 = em.as_intp(k0_v, k0_ty)
    table_row = cgutils.get_item_pointer(context, builder, table_ty, table,
                                         [em.as_intp(w_v, w_ty), k0], wraparound=False)
    buf_col = builder.bitcast(builder.gep(buf.data, [k0]), ir.IntType(8).as_pointer())
    buf_stride = builder.extract_value(buf.strides, 0)
    start = em.as_intp(start_v, start_ty)
    stop = em.as_intp(stop_v, stop_ty)

    def emit_case(count, pieces):
        table_io = [em.piece_io(table_ty.dtype, lanes) for _, lanes in pieces]
        buf_io = [em.piece_io(buf_ty.dtype, lanes) for _, lanes in pieces]
        table_ptrs = [builder.gep(table_row, [const(offset)]) for offset, _ in pieces]
        initial = [io[0](ptr) for io, ptr in zip(table_io, table_ptrs)]
        e, held, close = em.entry_loop(count, start, stop, initial)
        r, x, _ = em.entry(rows, row_ty, vals, val_ty, e)
        if scatter and buf_ahead:
            em.prefetch_buf_row(rows, row_ty, buf_col, buf_stride, buf_ty, e, stop, count)
        splats = {lanes: x if lanes == 1 else _splat(builder, x, em.value_type(lanes))
                  for _, lanes in pieces}
        row = em.buf_row(buf_col, buf_stride, buf_ty, r)
        updated = []
        for (offset, lanes), (load_buf, store_buf), h in zip(pieces, buf_io, held):
            ptr = builder.gep(row, [const(offset)])
            other = load_buf(ptr)
            if scatter:  # buf row += x * table row (held)
                store_buf(em.fma(splats[lanes], h, other, lanes), ptr)
                updated.append(h)
            else:  # held table row += x * buf row
                updated.append(em.fma(splats[lanes], other, h, lanes))
        close(updated)
        if not scatter:
            for (_, store_table), h, ptr in zip(table_io, held, table_ptrs):
                store_table(h, ptr)

    em.switch_on_width(em.width(table, k0), emit_case)
    return context.get_dummy_value()


def _block_scatter_codegen(table_ahead, context, builder, signature, args):
    """IR of ``block_scatter`` (``table_ahead`` 0) and ``block_scatter_ahead``
    (the runs ahead whose table rows each entry asks for)."""
    table_ty, cols_ty, d_ty, buf_ty, row_ty, val_ty, start_ty, stop_ty, k0_ty = signature.args
    table_v, cols_v, d_v, buf_v, row_v, val_v, start_v, stop_v, k0_v = args
    em = _Emit(context, builder)
    const = em.const
    i8p = ir.IntType(8).as_pointer()
    table = context.make_array(table_ty)(context, builder, table_v)
    cols = context.make_array(cols_ty)(context, builder, cols_v)
    buf = context.make_array(buf_ty)(context, builder, buf_v)
    rows = context.make_array(row_ty)(context, builder, row_v)
    vals = context.make_array(val_ty)(context, builder, val_v)
    k0 = em.as_intp(k0_v, k0_ty)
    table_col = builder.bitcast(builder.gep(table.data, [k0]), i8p)
    table_stride = builder.extract_value(table.strides, 0)
    buf_col = builder.bitcast(builder.gep(buf.data, [k0]), i8p)
    buf_stride = builder.extract_value(buf.strides, 0)
    start = em.as_intp(start_v, start_ty)
    stop = em.as_intp(stop_v, stop_ty)
    d_before = builder.sub(em.as_intp(d_v, d_ty), const(1))  # the first entry starts run d

    def emit_case(count, pieces):
        table_io = [em.piece_io(table_ty.dtype, lanes) for _, lanes in pieces]
        buf_io = [em.piece_io(buf_ty.dtype, lanes) for _, lanes in pieces]
        e, (d,), close = em.entry_loop(count, start, stop, [d_before])
        r, x, starts = em.entry(rows, row_ty, vals, val_ty, e)
        em.prefetch_buf_row(rows, row_ty, buf_col, buf_stride, buf_ty, e, stop, count)
        d_next = builder.add(d, starts)
        w = em.as_intp(builder.load(builder.gep(cols.data, [d_next])), cols_ty.dtype)
        if table_ahead:
            em.prefetch_table_row(cols, cols_ty, table_col, table_stride, d_next, table_ahead,
                                  count * (table_ty.dtype.bitwidth // 8))
        table_row = builder.bitcast(builder.gep(table_col, [builder.mul(w, table_stride)]),
                                    context.get_value_type(table_ty.dtype).as_pointer())
        row = em.buf_row(buf_col, buf_stride, buf_ty, r)
        for (offset, lanes), (load_table, _), (load_buf, store_buf) in zip(pieces, table_io,
                                                                           buf_io):
            splat = x if lanes == 1 else _splat(builder, x, em.value_type(lanes))
            ptr = builder.gep(row, [const(offset)])
            value = load_table(builder.gep(table_row, [const(offset)]))
            store_buf(em.fma(splat, value, load_buf(ptr), lanes), ptr)
        close([d_next])

    em.switch_on_width(em.width(table, k0), emit_case)
    return context.get_dummy_value()


def _row_arrays(ent_row, ent_val):
    return (isinstance(ent_row, types.Array) and ent_row.ndim == 1
            and isinstance(ent_row.dtype, types.Integer)
            and isinstance(ent_val, types.Array) and ent_val.ndim == 1
            and isinstance(ent_val.dtype, types.Float))


def _tables(table, buf, scatter):
    """Whether a run loop takes these arrays: it adds into a float64 array
    (``buf`` for a scatter, ``table`` for a gather) and may read the other in
    float32."""
    read, written = (table, buf) if scatter else (buf, table)
    return (isinstance(table, types.Array) and isinstance(buf, types.Array)
            and table.ndim == buf.ndim == 2 and table.layout == buf.layout == "C"
            and read.dtype in (types.float32, types.float64) and written.dtype == types.float64)


def _make_column_run(scatter, buf_ahead=True):
    @intrinsic
    def column_run(typingctx, table, w, buf, ent_row, ent_val, start, stop, k0):
        if not (_tables(table, buf, scatter) and _row_arrays(ent_row, ent_val)
                and all(isinstance(t, types.Integer) for t in (w, start, stop, k0))):
            return None
        sig = types.void(table, w, buf, ent_row, ent_val, start, stop, k0)

        def codegen(context, builder, signature, args):
            return _column_run_codegen(scatter, buf_ahead, context, builder, signature, args)

        return sig, codegen

    return column_run


def _make_block_scatter(table_ahead):
    @intrinsic
    def block_scatter(typingctx, table, cols, d, buf, ent_row, ent_val, start, stop, k0):
        if not (_tables(table, buf, True) and _row_arrays(ent_row, ent_val)
                and isinstance(cols, types.Array) and cols.ndim == 1
                and isinstance(cols.dtype, types.Integer)
                and all(isinstance(t, types.Integer) for t in (d, start, stop, k0))):
            return None
        sig = types.void(table, cols, d, buf, ent_row, ent_val, start, stop, k0)

        def codegen(context, builder, signature, args):
            return _block_scatter_codegen(table_ahead, context, builder, signature, args)

        return sig, codegen

    return block_scatter


def _py_column_gather(table, w, buf, ent_row, ent_val, start, stop, k0):
    k1 = min(k0 + RUN_WIDTH, table.shape[1])
    for e in range(start, stop):
        table[w, k0:k1] += np.float64(abs(ent_val[e])) * buf[ent_row[e], k0:k1]


def _py_column_scatter(table, w, buf, ent_row, ent_val, start, stop, k0):
    k1 = min(k0 + RUN_WIDTH, table.shape[1])
    for e in range(start, stop):
        buf[ent_row[e], k0:k1] += np.float64(abs(ent_val[e])) * table[w, k0:k1]


def _py_block_scatter(table, cols, d, buf, ent_row, ent_val, start, stop, k0):
    k1 = min(k0 + RUN_WIDTH, table.shape[1])
    d -= 1
    for e in range(start, stop):
        d += np.signbit(ent_val[e])
        buf[ent_row[e], k0:k1] += np.float64(abs(ent_val[e])) * table[cols[d], k0:k1]


_COLUMN_RUN_DOC = """``{what}`` for ``e`` in ``start:stop`` (in that order), over
the columns ``k0:k1`` with ``k1 = min(k0 + RUN_WIDTH, table.shape[1])``, one
fused multiply-add per value and step. ``table`` and ``buf`` are C-ordered
2-D arrays with the same number of columns; {arrays}.
The values are read as ``abs(ent_val[e])`` (a set sign bit marks where a
run starts: see ``block_scatter``). Nothing is bounds-checked: ``w``,
``ent_row[start:stop]`` and ``k0`` must be valid."""

if numba.config.DISABLE_JIT:
    column_gather, column_scatter = _py_column_gather, _py_column_scatter
    column_scatter_cached = _py_column_scatter
    block_scatter = block_scatter_ahead = _py_block_scatter
else:
    column_gather = _make_column_run(scatter=False)
    column_scatter = _make_column_run(scatter=True)
    column_scatter_cached = _make_column_run(scatter=True, buf_ahead=False)
    block_scatter = _make_block_scatter(0)
    block_scatter_ahead = _make_block_scatter(TABLE_PREFETCH_RUNS)
column_gather.__doc__ = _COLUMN_RUN_DOC.format(
    what="table[w] += |ent_val[e]| * buf[ent_row[e]]",
    arrays="``table`` float64, ``buf`` float32 or float64")
column_scatter.__doc__ = _COLUMN_RUN_DOC.format(
    what="buf[ent_row[e]] += |ent_val[e]| * table[w]",
    arrays="``table`` float32 or float64, ``buf`` float64")
block_scatter.__doc__ = """``buf[ent_row[e]] += |ent_val[e]| * table[cols[d(e)]]`` for ``e``
in ``start:stop`` (in that order), over the columns ``k0:k1`` as in
``column_scatter``: the runs ``d, d + 1, ...`` of a block, one after the
other, in one loop. ``d(e)`` is ``d - 1`` plus the number of values in
``ent_val[start:e + 1]`` with the sign bit set (``ent_val[start]`` must be
one). Per entry the table row is loaded again (from L1 but for a run's first
entry) instead of held in registers for the run, and no branch depends on
where runs end: the same sums as ``column_scatter`` run by run, bit for bit.
Nothing is bounds-checked."""
if column_scatter_cached is not column_scatter:  # (without JIT both are the Python twin)
    column_scatter_cached.__doc__ = """``column_scatter`` without asking for the buffer rows ahead, for a
``buf`` that stays in cache (the hot words' partial sums: at most
``HOT_TABLE_BYTES``): the same sums, bit for bit."""
if block_scatter_ahead is not block_scatter:
    block_scatter_ahead.__doc__ = """``block_scatter`` that also asks, at every entry, for the table row
of the run ``TABLE_PREFETCH_RUNS`` ahead (of the last run of ``cols`` near
its end), for reading: the same sums, bit for bit."""
