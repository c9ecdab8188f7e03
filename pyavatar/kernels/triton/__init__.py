"""The Triton backend: CUDA tensors, or CPU tensors under the Triton interpreter.

Kernels live in :mod:`.grid_sample_3d`, :mod:`.warp` and
:mod:`.relpos_attention`; they take any strides, write contiguous outputs in
the input dtype and compute in float32 (attention: ``tl.dot`` operands in the
input dtype with float32 accumulation; float32 operands use 3-pass TF32,
about float32 accuracy). Triton is imported on first use, not with this package.

``triton.jit`` fixes compiled versus interpreted kernels when the kernel
modules are imported, so ``TRITON_INTERPRET=1`` must be set before the first
call for CPU tensors to work. The interpreter runs float32 only: it cannot do
float16/bfloat16 arithmetic.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

import torch
from torch import Tensor

from pyavatar.kernels.spec import Args, Outputs

_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)
_MODULES = {  # the module holding each op's kernels; each takes the op's args in spec order
    "grid_sample_3d": "grid_sample_3d",
    "deform_features": "warp",
    "dense_warp": "warp",
    "relpos_attention": "relpos_attention",
}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


class TritonBackend:
    """The Triton backend: CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1`` (float32 only)."""

    name = "triton"

    def __init__(self) -> None:
        self._error: str | None = None
        self._checked = False

    def unavailable_reason(self) -> str | None:
        """Why Triton cannot be used in this process (not importable), or None."""
        if not self._checked:
            try:
                importlib.import_module("triton")
            except (ImportError, OSError, RuntimeError) as exc:
                self._error = f"triton is not importable ({exc}); pip install 'pyavatar[gpu]'"
            self._checked = True
        return self._error

    @staticmethod
    def _loaded_mode() -> bool | None:
        """Whether the loaded kernels are interpreted; None while none are loaded."""
        launch = sys.modules.get("pyavatar.kernels.triton._launch")
        return None if launch is None else launch.INTERPRETED

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        """Why ``op`` cannot run here on ``device``/``dtype`` (no GPU, interpreter mode, dtype), or None."""
        loaded = self._loaded_mode()
        interpreting = os.environ.get("TRITON_INTERPRET") == "1" if loaded is None else loaded
        if device.type == "cuda":
            if not torch.cuda.is_available():
                return "CUDA is not available in this process"
        elif device.type == "cpu":
            if not interpreting:
                if loaded is False:
                    return (
                        "CPU tensors need the Triton interpreter, but the kernels were loaded compiled: "
                        "set TRITON_INTERPRET=1 before the first Triton kernel call"
                    )
                return "CPU tensors need the Triton interpreter: set TRITON_INTERPRET=1 before first use"
        else:
            return f"runs on CUDA tensors (or CPU under TRITON_INTERPRET=1), got {device.type}"
        if dtype not in _SUPPORTED:
            return f"float32, float16 or bfloat16 only, got {_dtype_name(dtype)}"
        if interpreting and dtype != torch.float32:
            return (
                f"the Triton interpreter runs float32 only (no float16/bfloat16 arithmetic), got {_dtype_name(dtype)}"
            )
        return None

    @staticmethod
    def _kernels(name: str) -> ModuleType:
        return importlib.import_module(f"pyavatar.kernels.triton.{name}")

    def run(self, op: str, args: Args) -> Outputs:
        """Run ``op``'s Triton kernel on the checked ``args``; absent optional outputs are dropped."""
        result = getattr(self._kernels(_MODULES[op]), op)(*args)
        return (result,) if isinstance(result, Tensor) else tuple(t for t in result if t is not None)


BACKEND = TritonBackend()
