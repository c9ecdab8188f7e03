"""The PyTorch reference as a backend (any device, any floating dtype)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyavatar.kernels import reference
from pyavatar.kernels.spec import Args, DenseWarpArgs, Outputs, RelposAttentionArgs


def _dense_warp(a: DenseWarpArgs) -> Outputs:
    warped, deformation = reference.dense_warp(a.feature, a.mask, a.kp_source, a.kp_driving, return_deformation=True)
    return (warped, deformation) if a.return_deformation else (warped,)


def _relpos_attention(a: RelposAttentionArgs) -> Outputs:
    context = None if a.left < 0 and a.right < 0 else (a.left, a.right)
    return (reference.relpos_attention(a.q, a.k, a.v, a.pos, a.pos_bias_u, a.pos_bias_v, a.key_mask, context, a.scale),)


# The reference functions take the args in spec order, except where the public API differs.
_REFERENCE: dict[str, Callable[[Any], Outputs]] = {
    "grid_sample_3d": lambda a: (reference.grid_sample_3d(*a),),
    "deform_features": lambda a: (reference.deform_features(*a),),
    "dense_warp": _dense_warp,
    "relpos_attention": _relpos_attention,
}


class TorchBackend:
    name = "torch"

    def unavailable_reason(self) -> str | None:
        return None

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        return None if dtype.is_floating_point else f"dtype {dtype} is not floating point"

    def run(self, op: str, args: Args) -> Outputs:
        return _REFERENCE[op](args)


BACKEND = TorchBackend()
