"""Low-level helpers Numba does not offer: software prefetch.

The E-step reads, and the M-step updates, one row of a [n_features, K] table
per non-zero, in the random order of the words of each document. For rare
words those rows miss every cache; asking for them a few non-zeros ahead lets
the misses overlap (measured: the jll pass over a 100k-word vocabulary runs
about 1.8x faster).
"""
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: how many non-zeros ahead rows are requested
PREFETCH_DISTANCE = 32
#: cache line size in bytes
CACHE_LINE = 64


def _make_prefetch(write):
    @intrinsic
    def prefetch(typingctx, array, row, col):
        """Hint the CPU to fetch the cache line holding ``array[row, col]``."""
        if not isinstance(array, types.Array) or array.ndim != 2:
            return None
        sig = types.void(array, row, col)

        def codegen(context, builder, signature, args):
            arrty, rowty, colty = signature.args
            arr = context.make_array(arrty)(context, builder, args[0])
            idx = [context.cast(builder, args[1], rowty, types.intp),
                   context.cast(builder, args[2], colty, types.intp)]
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
    def prefetch_read(array, row, col):
        pass

    def prefetch_write(array, row, col):
        pass
else:
    prefetch_read = _make_prefetch(write=False)
    prefetch_write = _make_prefetch(write=True)
