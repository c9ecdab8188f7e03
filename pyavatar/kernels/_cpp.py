"""The C++ CPU backend (``pyavatar._core``): fp32, any strides, OpenMP threads.

The kernels use as many threads as ``torch.get_num_threads()`` reports at the
time of the call, so ``torch.set_num_threads`` governs both.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
from torch import Tensor

from pyavatar.kernels._outputs import deform_features_output, dense_warp_outputs, grid_sample_3d_output

_PADDING = {"zeros": 0, "border": 1}


def _view(t: Tensor) -> tuple[int, list[int], list[int]]:
    return (t.data_ptr(), list(t.shape), list(t.stride()))


class CppBackend:
    name = "cpp"

    def __init__(self) -> None:
        self._module: ModuleType | None = None
        self._error: str | None = None
        self._threads = -1

    def module(self) -> ModuleType:
        """The loaded ``pyavatar._core`` (raises ImportError with the reason when missing)."""
        if self._module is None:
            if self._error is not None:
                raise ImportError(self._error)
            try:
                self._module = importlib.import_module("pyavatar._core")
            except ImportError as exc:
                self._error = f"pyavatar._core is not importable ({exc}); reinstall with `pip install .`"
                raise ImportError(self._error) from exc
        n = torch.get_num_threads()
        if n != self._threads:
            self._module.set_num_threads(n)
            self._threads = n
        return self._module

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

    def grid_sample_3d(self, input: Tensor, grid: Tensor, padding_mode: str, align_corners: bool) -> Tensor:
        out = grid_sample_3d_output(input, grid)
        self.module().grid_sample_3d(_view(input), _view(grid), out.data_ptr(), _PADDING[padding_mode], align_corners)
        return out

    def deform_features(self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor, kp_variance: float) -> Tensor:
        out = deform_features_output(feature, kp_source)
        self.module().deform_features(_view(feature), _view(kp_source), _view(kp_driving), kp_variance, out.data_ptr())
        return out

    def dense_warp(
        self, feature: Tensor, mask: Tensor, kp_source: Tensor, kp_driving: Tensor, return_deformation: bool
    ) -> tuple[Tensor, Tensor | None]:
        out, deformation = dense_warp_outputs(feature, mask, return_deformation)
        self.module().dense_warp(
            _view(feature), _view(mask), _view(kp_source), _view(kp_driving), out.data_ptr(),
            0 if deformation is None else deformation.data_ptr(),
        )
        return out, deformation

    def relpos_attention(
        self, q: Tensor, k: Tensor, v: Tensor, pos: Tensor, pos_bias_u: Tensor, pos_bias_v: Tensor,
        key_mask: Tensor | None, left: int, right: int, scale: float,
    ) -> Tensor:
        out = torch.empty(q.shape, dtype=q.dtype)
        self.module().relpos_attention(
            _view(q), _view(k), _view(v), _view(pos), _view(pos_bias_u), _view(pos_bias_v),
            None if key_mask is None else _view(key_mask), left, right, scale, out.data_ptr(),
        )
        return out


BACKEND = CppBackend()
