"""The C++ CPU backend (``pyavatar._core``): fp32, any strides, OpenMP threads.

The kernels use as many threads as ``torch.get_num_threads()`` reports at the
time of the call, so ``torch.set_num_threads`` governs both.
"""

from __future__ import annotations

from types import ModuleType

import torch

from pyavatar._native import core
from pyavatar.kernels._native import native_args
from pyavatar.kernels.spec import SPECS, Args, Outputs


class CppBackend:
    name = "cpp"

    def __init__(self) -> None:
        self._threads = -1

    def module(self) -> ModuleType:
        """The loaded ``pyavatar._core`` (raises ImportError with the reason when missing)."""
        module = core()
        n = torch.get_num_threads()
        if n != self._threads:
            module.set_num_threads(n)
            self._threads = n
        return module

    def unavailable_reason(self) -> str | None:
        try:
            self.module()
        except ImportError as exc:
            return str(exc)
        return None

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        if device.type != "cpu":
            return f"runs on CPU tensors only, got {device.type}"
        if dtype != torch.float32:
            return f"float32 only on CPU, got {str(dtype).replace('torch.', '')}"
        return None

    def run(self, op: str, args: Args) -> Outputs:
        outputs = SPECS[op].outputs(args)
        getattr(self.module(), op)(*native_args(op, args, outputs))
        return outputs


BACKEND = CppBackend()
