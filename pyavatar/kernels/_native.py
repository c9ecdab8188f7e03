"""Argument packing for the native modules (``pyavatar._core``, ``pyavatar._cuda``).

Their bindings take an op's args in spec order (:mod:`.spec`), tensors as ``(data_ptr, sizes,
element strides)`` and strings as they are, followed by one data pointer per possible output
(0 for an optional output that was not asked for).
"""

from __future__ import annotations

from torch import Tensor

from pyavatar.kernels.spec import SPECS, Args, Outputs


def native_args(op: str, args: Args, outputs: Outputs) -> list[object]:
    """The positional arguments of the binding of ``op``."""
    packed = [(v.data_ptr(), list(v.shape), list(v.stride())) if isinstance(v, Tensor) else v for v in args]
    pointers = [t.data_ptr() for t in outputs]
    return packed + pointers + [0] * (SPECS[op].max_outputs - len(pointers))
