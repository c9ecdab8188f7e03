"""Output allocation shared by every backend and by the ops' fake (shape-only) implementations (see :mod:`.spec`).

``new_empty`` keeps the input's dtype and device and works on fake tensors under ``torch.compile``.
"""

from __future__ import annotations

from torch import Tensor


def grid_sample_3d_output(input: Tensor, grid: Tensor) -> Tensor:
    """(N, C, Do, Ho, Wo)."""
    return input.new_empty((input.shape[0], input.shape[1], *grid.shape[1:4]))


def deform_features_output(feature: Tensor, kp_source: Tensor) -> Tensor:
    """(N, K+1, C+1, D, H, W)."""
    n, c, d, h, w = feature.shape
    return feature.new_empty((n, kp_source.shape[1] + 1, c + 1, d, h, w))


def dense_warp_outputs(feature: Tensor, mask: Tensor, return_deformation: bool) -> tuple[Tensor, Tensor | None]:
    """Warped (N, C, D, H, W) and, when requested, the deformation (N, D, H, W, 3), on the mask's lattice."""
    n, c = feature.shape[:2]
    d, h, w = mask.shape[2:]
    deformation = feature.new_empty((n, d, h, w, 3)) if return_deformation else None
    return feature.new_empty((n, c, d, h, w)), deformation


def relpos_attention_output(q: Tensor) -> Tensor:
    """(B, T, H, Dk), contiguous."""
    return q.new_empty(q.shape)
