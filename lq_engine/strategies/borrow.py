"""``borrowed(a)``: a view of a C-contiguous array that numba does not reference-count.

numba counts references to every array it takes out of a tuple; when ``decide`` reads
``bars.close[s, i]`` or ``ind.z[s, i]`` inside a branch, the count goes up and down at every call,
with atomic instructions on the array's shared counter, which the threads of a parallel sweep then
fight over (measured: ~19 ns per such read, far more under contention). The kernels build the
``bars`` and ``ind`` a strategy sees from borrowed views (their owner keeps the memory alive for the
whole call), so those reads cost no atomic at all. Under ``NUMBA_DISABLE_JIT=1`` it is the identity.
"""

from __future__ import annotations

from numba import carray, njit, types
from numba.core import config
from numba.extending import intrinsic


@intrinsic
def _data_pointer(typingctx, arr):
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data

    return sig, codegen


if config.DISABLE_JIT:
    def borrowed(a):
        return a
else:
    @njit(inline="always")
    def borrowed(a):
        return carray(_data_pointer(a), a.shape)
