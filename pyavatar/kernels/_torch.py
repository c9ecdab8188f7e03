"""The PyTorch reference as a backend (any device, any floating dtype)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyavatar.kernels import reference


class TorchBackend:
    name = "torch"

    def unavailable_reason(self) -> str | None:
        return None

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        return None if dtype.is_floating_point else f"dtype {dtype} is not floating point"

    def grid_sample_3d(self, input: Tensor, grid: Tensor, padding_mode: str, align_corners: bool) -> Tensor:
        return reference.grid_sample_3d(input, grid, padding_mode, align_corners)

    def deform_features(self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor, kp_variance: float) -> Tensor:
        return reference.deform_features(feature, kp_source, kp_driving, kp_variance)

    def dense_warp(
        self, feature: Tensor, mask: Tensor, kp_source: Tensor, kp_driving: Tensor, return_deformation: bool
    ) -> tuple[Tensor, Tensor | None]:
        warped, deformation = reference.dense_warp(feature, mask, kp_source, kp_driving, return_deformation=True)
        return warped, (deformation if return_deformation else None)

    def relpos_attention(
        self, q: Tensor, k: Tensor, v: Tensor, pos: Tensor, pos_bias_u: Tensor, pos_bias_v: Tensor,
        key_mask: Tensor | None, left: int, right: int, scale: float,
    ) -> Tensor:
        context = None if left < 0 and right < 0 else (left, right)
        return reference.relpos_attention(q, k, v, pos, pos_bias_u, pos_bias_v, key_mask, context, scale)


BACKEND = TorchBackend()
