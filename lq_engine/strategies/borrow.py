"""``borrowed(a)``: a view of a C-contiguous array that numba does not reference-count.

numba counts references to every array it takes out of a tuple; when ``decide`` reads
``bars.close[s, i]`` or ``ind.z[s, i]`` inside a branch, the count goes up and down at every call,
with atomic instructions on the array's shared counter, which the threads of a parallel sweep then
fight over (measured: ~19 ns per such read, far more under contention). The kernels build the
``bars`` and ``ind`` a strategy sees from borrowed views (their owner keeps the memory alive for the
whole call), so those reads cost no atomic at all. Under ``NUMBA_DISABLE_JIT=1`` it is the identity.

The view is the data pointer and the shape, no strides: it is only right for a C-contiguous array.
A strided one (a panel window ``close[:, a:b]``, a ``[::2]`` view) would be read as if its rows
followed each other, i.e. from memory it was not given. So ``borrowed`` refuses any array numba does
not type as C-contiguous, when the kernel is compiled (numba types an array's layout from its
flags at every call, so a strided array always meets this check); without the JIT it checks the
flags. The data the kernels receive is made contiguous where it is cut (``Panel``, ``Bars``), and
``codegen.Kernels`` checks its arguments before calling, so this error should never reach a user.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import config
from numba.core.errors import TypingError
from numba.extending import intrinsic

from lq_engine.authoring.declare import StrategyError

NOT_CONTIGUOUS = ("borrowed(): the array is not C-contiguous ({what}); a pointer-and-shape view of it would "
                  "read memory it was not given. Cut windows with Panel.window / Bars (they copy once) or "
                  "pass np.ascontiguousarray(...)")


@intrinsic
def _data_pointer(typingctx, arr):
    if not isinstance(arr, types.Array) or arr.layout != "C":
        raise TypingError(NOT_CONTIGUOUS.format(what=f"numba type {arr}"))
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data

    return sig, codegen


def require_c_contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` if it is a C-contiguous ndarray; a ``StrategyError`` otherwise (what ``borrowed`` checks
    without the JIT)."""
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
        what = type(a).__name__ if not isinstance(a, np.ndarray) else f"shape {a.shape}, strides {a.strides}"
        raise StrategyError(NOT_CONTIGUOUS.format(what=what))
    return a


if config.DISABLE_JIT:
    borrowed = require_c_contiguous
else:
    @njit(inline="always")
    def borrowed(a):
        return carray(_data_pointer(a), a.shape)
