"""The CUDA backend (``pyavatar._cuda``, built when nvcc was found at install time).

fp32, fp16 and bf16 on CUDA tensors with any strides (fp32 math, one rounding
on store). Kernels run on torch's current stream of the tensors' device; the
module links the CUDA runtime statically, so it needs only the driver.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
from torch import Tensor

from pyavatar.kernels._outputs import deform_features_output, dense_warp_outputs, grid_sample_3d_output

DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
_PADDING = {"zeros": 0, "border": 1}
MAX_GRID_YZ = 65535  # relpos_attention launches H x B blocks on grid axes y and z


def _view(t: Tensor) -> tuple[int, list[int], list[int]]:
    return (t.data_ptr(), list(t.shape), list(t.stride()))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def check_attention_grid(op: str, batch: int, heads: int) -> None:
    """Raise ValueError when B or H exceed what one attention launch covers."""
    for name, value in (("batch size B", batch), ("head count H", heads)):
        if value > MAX_GRID_YZ:
            raise ValueError(f"{op}: {name}={value} exceeds the CUDA kernel limit {MAX_GRID_YZ}")


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
            try:
                self._module = importlib.import_module("pyavatar._cuda")
            except ModuleNotFoundError as exc:
                raise ImportError(
                    "pyavatar._cuda was not built (no CUDA compiler at install time; "
                    "reinstall with nvcc on PATH or PYAVATAR_CUDA=ON)"
                ) from exc
            except ImportError as exc:
                raise ImportError(f"pyavatar._cuda failed to load ({exc})") from exc
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

    def _launch_args(self, t: Tensor) -> dict[str, int]:
        index = _device_index(t.device)
        return {"device": index, "stream": torch.cuda.current_stream(index).cuda_stream}

    def grid_sample_3d(self, input: Tensor, grid: Tensor, padding_mode: str, align_corners: bool) -> Tensor:
        out = grid_sample_3d_output(input, grid)
        self.module().grid_sample_3d(
            DTYPE_CODES[input.dtype], _view(input), _view(grid), out.data_ptr(), _PADDING[padding_mode],
            align_corners, **self._launch_args(input),
        )
        return out

    def deform_features(self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor, kp_variance: float) -> Tensor:
        out = deform_features_output(feature, kp_source)
        self.module().deform_features(
            DTYPE_CODES[feature.dtype], _view(feature), _view(kp_source), _view(kp_driving), kp_variance,
            out.data_ptr(), **self._launch_args(feature),
        )
        return out

    def dense_warp(
        self, feature: Tensor, mask: Tensor, kp_source: Tensor, kp_driving: Tensor, return_deformation: bool
    ) -> tuple[Tensor, Tensor | None]:
        out, deformation = dense_warp_outputs(feature, mask, return_deformation)
        self.module().dense_warp(
            DTYPE_CODES[feature.dtype], _view(feature), _view(mask), _view(kp_source), _view(kp_driving),
            out.data_ptr(), 0 if deformation is None else deformation.data_ptr(), **self._launch_args(feature),
        )
        return out, deformation

    def relpos_attention(
        self, q: Tensor, k: Tensor, v: Tensor, pos: Tensor, pos_bias_u: Tensor, pos_bias_v: Tensor,
        key_mask: Tensor | None, left: int, right: int, scale: float,
    ) -> Tensor:
        check_attention_grid("relpos_attention", q.shape[0], q.shape[2])
        out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
        self.module().relpos_attention(
            DTYPE_CODES[q.dtype], _view(q), _view(k), _view(v), _view(pos), _view(pos_bias_u), _view(pos_bias_v),
            None if key_mask is None else _view(key_mask), left, right, scale, out.data_ptr(),
            **self._launch_args(q),
        )
        return out


def _device_index(device: torch.device) -> int:
    return torch.cuda.current_device() if device.index is None else device.index


BACKEND = CudaBackend()
