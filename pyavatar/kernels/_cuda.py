"""The CUDA backend (``pyavatar._cuda``, built when nvcc was found at install time).

fp32, fp16 and bf16 on CUDA tensors with any strides (fp32 math, one rounding
on store). Kernels run on torch's current stream of the tensors' device; the
module links the CUDA runtime statically, so it needs only the driver.
"""

from __future__ import annotations

from types import ModuleType

import torch

from pyavatar._native import load
from pyavatar.kernels._native import native_args
from pyavatar.kernels.spec import SPECS, Args, Outputs

DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
MAX_GRID_YZ = 65535  # relpos_attention launches H x B blocks on grid axes y and z


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def check_attention_grid(op: str, batch: int, heads: int) -> None:
    """Raise ValueError when B or H exceed what one attention launch covers."""
    for name, value in (("batch size B", batch), ("head count H", heads)):
        if value > MAX_GRID_YZ:
            raise ValueError(f"{op}: {name}={value} exceeds the CUDA kernel limit {MAX_GRID_YZ}")


def cuda_outputs(op: str, args: Args) -> Outputs:
    """``op``'s outputs, after the launch limits the CUDA kernels share (``pyavatar._cuda`` and CuPy)."""
    if op == "relpos_attention":
        check_attention_grid(op, args[0].shape[0], args[0].shape[2])
    return SPECS[op].outputs(args)


class CudaBackend:
    name = "cuda"

    def __init__(self) -> None:
        self._module: ModuleType | None = None
        self._reason: str | None = None
        self._checked = False
        self._device_reasons: dict[int, str | None] = {}

    def module(self) -> ModuleType:
        """The loaded ``pyavatar._cuda`` (raises ImportError with the reason when missing)."""
        if self._module is None:
            self._module = load(
                "_cuda", missing="no CUDA compiler at install time: reinstall with nvcc on PATH or PYAVATAR_CUDA=ON"
            )
        return self._module

    def unavailable_reason(self) -> str | None:
        if not self._checked:
            self._reason = self._find_reason()
            self._checked = True
        return self._reason

    def _find_reason(self) -> str | None:
        try:
            module = self.module()
        except ImportError as exc:
            return str(exc)
        ok, why = module.available()
        if not ok:
            return f"no usable CUDA device: {why}"
        if not torch.cuda.is_available():
            return "torch cannot use CUDA (CPU-only torch build or no device visible to it)"
        return None

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        if device.type != "cuda":
            return f"runs on CUDA tensors only, got {device.type}"
        if dtype not in DTYPE_CODES:
            return f"float32, float16 and bfloat16 only, got {_dtype_name(dtype)}"
        index = _device_index(device)
        if index not in self._device_reasons:
            self._device_reasons[index] = self.module().probe_device(index) or None
        return self._device_reasons[index]

    def run(self, op: str, args: Args) -> Outputs:
        ref = args[0]
        outputs = cuda_outputs(op, args)
        index = _device_index(ref.device)
        getattr(self.module(), op)(
            DTYPE_CODES[ref.dtype],
            *native_args(op, args, outputs),
            device=index,
            stream=torch.cuda.current_stream(index).cuda_stream,
        )
        return outputs


def _device_index(device: torch.device) -> int:
    return torch.cuda.current_device() if device.index is None else device.index


BACKEND = CudaBackend()
