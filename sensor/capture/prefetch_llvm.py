"""``prefetch(buf, i)``: ask the CPU to start loading the cache line holding ``buf[i]`` (LLVM's
``llvm.prefetch``), for kernels that walk a capture's bytes. A pcap file is a chain of records whose
next offset is only known once the current header is read, so every record costs a full memory
round trip unless the lines ahead are already on their way; a prefetch never faults and never
changes a result, whatever address it is given.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic


_I8P, _I32 = ir.IntType(8).as_pointer(), ir.IntType(32)
_PREFETCH = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])  # address, write, locality, data


@intrinsic
def prefetch(typingctx, array, index):
    """For a read, kept in every cache level (locality 3)."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), _I8P)
        fn = cgutils.get_or_insert_function(builder.module, _PREFETCH, "llvm.prefetch.p0i8")
        builder.call(fn, [address, _I32(0), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


if config.DISABLE_JIT:  # kernels run as plain Python (line counts, bounds checks): nothing to ask for
    def prefetch(array, index) -> None:  # noqa: F811
        return None
