"""Low-level helpers Numba does not offer: software prefetch, an exp and a
log that vectorise, and the vector loops over one column run of the blocked
EM pass.

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


# ---------------------------------------------------------------------------
# column runs of the blocked EM pass
# ---------------------------------------------------------------------------
# The blocked pass (``fastem._kernels.blocked``) spends its time in one loop
# shape: the entries ``e`` of one column ``w`` of a row block, each adding
# ``ent_val[e]`` times one [K] row to another. Written as Numba loops over k,
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
# relative: LLVM did not fuse every one of theirs).

#: float64 lanes per vector (one AVX2 register) ...
RUN_LANES = 4
#: ... and vectors held per call: one call covers RUN_WIDTH columns of the
#: tables (K > RUN_WIDTH takes several calls). 4 x 8 was faster than 8 x 4
#: (zmm) at K = 20.
RUN_VECTORS = 8
RUN_WIDTH = RUN_LANES * RUN_VECTORS


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


def _column_run_codegen(scatter, context, builder, signature, args):
    """IR of ``column_gather`` / ``column_scatter`` (see ``_make_column_run``)."""
    table_ty, w_ty, buf_ty, row_ty, val_ty, start_ty, stop_ty, k0_ty = signature.args
    table_v, w_v, buf_v, row_v, val_v, start_v, stop_v, k0_v = args
    intp = context.get_value_type(types.intp)
    f64 = ir.DoubleType()

    def as_intp(value, ty):
        return context.cast(builder, value, ty, types.intp)

    def const(n):
        return ir.Constant(intp, n)

    table = context.make_array(table_ty)(context, builder, table_v)
    buf = context.make_array(buf_ty)(context, builder, buf_v)
    rows = context.make_array(row_ty)(context, builder, row_v)
    vals = context.make_array(val_ty)(context, builder, val_v)
    k0 = as_intp(k0_v, k0_ty)
    # columns k0:k0 + width
    width = builder.sub(builder.extract_value(table.shape, 1), k0)
    width = builder.select(builder.icmp_signed(">", width, const(RUN_WIDTH)), const(RUN_WIDTH),
                           width)

    def value_type(lanes):
        return f64 if lanes == 1 else ir.VectorType(f64, lanes)

    def piece_io(element_ty, lanes):
        """(load, store) of ``lanes`` values of ``element_ty`` at a pointer to
        an element, as float64 (a scalar when ``lanes`` is 1)."""
        el = context.get_value_type(element_ty)
        ty = el if lanes == 1 else ir.VectorType(el, lanes)
        align = element_ty.bitwidth // 8

        def load(ptr):
            value = builder.load(builder.bitcast(ptr, ty.as_pointer()), align=align)
            return value if el == f64 else builder.fpext(value, value_type(lanes))

        def store(value, ptr):
            value = value if el == f64 else builder.fptrunc(value, ty)
            builder.store(value, builder.bitcast(ptr, ty.as_pointer()), align=align)

        return load, store

    def fma(a, b, c, lanes):
        name = "llvm.fma.f64" if lanes == 1 else f"llvm.fma.v{lanes}f64"
        ty = value_type(lanes)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), name)
        return builder.call(fn, [a, b, c])

    table_row = cgutils.get_item_pointer(context, builder, table_ty, table,
                                         [as_intp(w_v, w_ty), k0], wraparound=False)
    buf_col = builder.bitcast(builder.gep(buf.data, [k0]), ir.IntType(8).as_pointer())
    buf_stride = builder.extract_value(buf.strides, 0)
    start = as_intp(start_v, start_ty)
    stop = as_intp(stop_v, stop_ty)
    # one loop per width (1 .. RUN_WIDTH), so that the run's values stay in
    # registers: branch once per run
    bb_end = builder.append_basic_block("run.end")
    switch = builder.switch(width, bb_end)
    for count in range(1, RUN_WIDTH + 1):
        pieces = _pieces(count)
        bb_case = builder.append_basic_block(f"run.w{count}")
        switch.add_case(const(count), bb_case)
        builder.position_at_end(bb_case)
        table_io = [piece_io(table_ty.dtype, lanes) for _, lanes in pieces]
        buf_io = [piece_io(buf_ty.dtype, lanes) for _, lanes in pieces]
        table_ptrs = [builder.gep(table_row, [const(offset)]) for offset, _ in pieces]
        initial = [io[0](ptr) for io, ptr in zip(table_io, table_ptrs)]
        bb_pre = builder.block
        bb_cond = builder.append_basic_block(f"run.w{count}.cond")
        bb_body = builder.append_basic_block(f"run.w{count}.body")
        bb_done = builder.append_basic_block(f"run.w{count}.done")
        builder.branch(bb_cond)
        builder.position_at_end(bb_cond)
        e = builder.phi(intp)
        e.add_incoming(start, bb_pre)
        held = []
        for (_, lanes), value in zip(pieces, initial):
            phi = builder.phi(value_type(lanes))
            phi.add_incoming(value, bb_pre)
            held.append(phi)
        builder.cbranch(builder.icmp_signed("<", e, stop), bb_body, bb_done)
        builder.position_at_end(bb_body)
        r = builder.load(builder.gep(rows.data, [e]))
        r = builder.sext(r, intp) if row_ty.dtype.signed else builder.zext(r, intp)
        x = context.cast(builder, builder.load(builder.gep(vals.data, [e])), val_ty.dtype,
                         types.float64)
        splats = {lanes: x if lanes == 1 else _splat(builder, x, value_type(lanes))
                  for _, lanes in pieces}
        row = builder.gep(buf_col, [builder.mul(r, buf_stride)])
        row = builder.bitcast(row, context.get_value_type(buf_ty.dtype).as_pointer())
        updated = []
        for (offset, lanes), (load_buf, store_buf), h in zip(pieces, buf_io, held):
            ptr = builder.gep(row, [const(offset)])
            other = load_buf(ptr)
            if scatter:  # buf row += x * table row (held)
                store_buf(fma(splats[lanes], h, other, lanes), ptr)
                updated.append(h)
            else:  # held table row += x * buf row
                updated.append(fma(splats[lanes], other, h, lanes))
        e.add_incoming(builder.add(e, const(1)), builder.block)
        for h, value in zip(held, updated):
            h.add_incoming(value, builder.block)
        builder.branch(bb_cond)
        builder.position_at_end(bb_done)
        if not scatter:
            for (_, store_table), h, ptr in zip(table_io, held, table_ptrs):
                store_table(h, ptr)
        builder.branch(bb_end)
    builder.position_at_end(bb_end)
    return context.get_dummy_value()


def _make_column_run(scatter):
    @intrinsic
    def column_run(typingctx, table, w, buf, ent_row, ent_val, start, stop, k0):
        if not (isinstance(table, types.Array) and isinstance(buf, types.Array)
                and table.ndim == buf.ndim == 2 and table.layout == buf.layout == "C"
                and table.dtype in (types.float32, types.float64)
                and buf.dtype == types.float64 and (scatter or table.dtype == types.float64)
                and isinstance(ent_row, types.Array) and ent_row.ndim == 1
                and isinstance(ent_row.dtype, types.Integer)
                and isinstance(ent_val, types.Array) and ent_val.ndim == 1
                and isinstance(ent_val.dtype, types.Float)
                and all(isinstance(t, types.Integer) for t in (w, start, stop, k0))):
            return None
        sig = types.void(table, w, buf, ent_row, ent_val, start, stop, k0)

        def codegen(context, builder, signature, args):
            return _column_run_codegen(scatter, context, builder, signature, args)

        return sig, codegen

    return column_run


def _py_column_gather(table, w, buf, ent_row, ent_val, start, stop, k0):
    k1 = min(k0 + RUN_WIDTH, table.shape[1])
    for e in range(start, stop):
        table[w, k0:k1] += ent_val[e] * buf[ent_row[e], k0:k1]


def _py_column_scatter(table, w, buf, ent_row, ent_val, start, stop, k0):
    k1 = min(k0 + RUN_WIDTH, table.shape[1])
    for e in range(start, stop):
        buf[ent_row[e], k0:k1] += ent_val[e] * table[w, k0:k1]


_COLUMN_RUN_DOC = """``{what}`` for ``e`` in ``start:stop`` (in that order), over
the columns ``k0:k1`` with ``k1 = min(k0 + RUN_WIDTH, table.shape[1])``, one
fused multiply-add per value and step. ``table`` and ``buf`` are C-ordered
2-D arrays with the same number of columns; {table}, ``buf`` float64.
Nothing is bounds-checked: ``w``, ``ent_row[start:stop]`` and ``k0`` must be
valid."""

if numba.config.DISABLE_JIT:
    column_gather, column_scatter = _py_column_gather, _py_column_scatter
else:
    column_gather = _make_column_run(scatter=False)
    column_scatter = _make_column_run(scatter=True)
column_gather.__doc__ = _COLUMN_RUN_DOC.format(
    what="table[w] += ent_val[e] * buf[ent_row[e]]", table="``table`` float64")
column_scatter.__doc__ = _COLUMN_RUN_DOC.format(
    what="buf[ent_row[e]] += ent_val[e] * table[w]", table="``table`` float32 or float64")
