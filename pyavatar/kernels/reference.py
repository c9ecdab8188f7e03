"""Pure-PyTorch definitions of pyavatar's kernels.

These functions *define* what every backend (C++, CUDA, CuPy, Triton) must
compute; tests compare each backend against them. They are written the way the
reference models compute (LivePortrait's composite of ``grid_sample`` calls,
espnet's relative-position attention with ``rel_shift``), not for speed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "align_corners_lattice",
    "deform_features",
    "dense_warp",
    "grid_sample_3d",
    "relpos_attention",
    "relpos_scores",
    "sparse_motions",
]


def grid_sample_3d(input: Tensor, grid: Tensor, padding_mode: str = "zeros", align_corners: bool = False) -> Tensor:
    """Trilinear sampling of ``input`` (N, C, D, H, W) at ``grid`` (N, Do, Ho, Wo, 3).

    The grid's last axis is (x, y, z) = (W, H, D) in normalised coordinates
    [-1, 1]; ``padding_mode`` is ``"zeros"`` or ``"border"``. Returns
    (N, C, Do, Ho, Wo); identical to ``torch.nn.functional.grid_sample`` with
    ``mode="bilinear"`` on 5-D input.
    """
    return F.grid_sample(input, grid, mode="bilinear", padding_mode=padding_mode, align_corners=align_corners)


def align_corners_lattice(d: int, h: int, w: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The (D, H, W, 3) lattice with value 2·i/(n−1) − 1 per axis, last axis (x, y, z).

    This is LivePortrait's ``make_coordinate_grid``: exactly −1 and +1 at the
    first and last sample of each axis.
    """

    def axis(n: int) -> Tensor:
        i = torch.arange(n, dtype=dtype, device=device)
        return 2 * (i / (n - 1)) - 1

    z = axis(d).view(d, 1, 1).expand(d, h, w)
    y = axis(h).view(1, h, 1).expand(d, h, w)
    x = axis(w).view(1, 1, w).expand(d, h, w)
    return torch.stack([x, y, z], dim=-1)


def sparse_motions(kp_source: Tensor, kp_driving: Tensor, spatial: tuple[int, int, int]) -> Tensor:
    """(N, K+1, D, H, W, 3): the lattice, then lattice − kp_driving[k] + kp_source[k] per keypoint."""
    n, k, _ = kp_source.shape
    lattice = align_corners_lattice(*spatial, dtype=kp_source.dtype, device=kp_source.device)
    lattice = lattice.view(1, 1, *spatial, 3)
    moved = lattice - kp_driving.view(n, k, 1, 1, 1, 3) + kp_source.view(n, k, 1, 1, 1, 3)
    return torch.cat([lattice.expand(n, 1, *spatial, 3), moved], dim=1)


def _heatmap_differences(
    kp_source: Tensor, kp_driving: Tensor, spatial: tuple[int, int, int], kp_variance: float
) -> Tensor:
    """(N, K+1, 1, D, H, W): Gaussian(driving) − Gaussian(source) per keypoint, zeros first."""
    n, k, _ = kp_source.shape
    lattice = align_corners_lattice(*spatial, dtype=kp_source.dtype, device=kp_source.device)
    lattice = lattice.view(1, 1, *spatial, 3)

    def gaussian(kp: Tensor) -> Tensor:
        diff = lattice - kp.view(n, k, 1, 1, 1, 3)
        return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)

    heat = gaussian(kp_driving) - gaussian(kp_source)
    zeros = torch.zeros(n, 1, *spatial, dtype=heat.dtype, device=heat.device)
    return torch.cat([zeros, heat], dim=1).unsqueeze(2)


def deform_features(feature: Tensor, kp_source: Tensor, kp_driving: Tensor, kp_variance: float = 0.01) -> Tensor:
    """Hourglass input of LivePortrait's dense-motion network.

    Args:
        feature: (N, C, D, H, W) compressed feature volume.
        kp_source: (N, K, 3) source keypoints (x, y, z).
        kp_driving: (N, K, 3) driving keypoints.
        kp_variance: variance of the keypoint Gaussians (LivePortrait: 0.01).

    Returns:
        (N, K+1, C+1, D, H, W). Group 0 is the feature sampled at the identity
        lattice, group k the feature sampled at the lattice moved by
        ``kp_source[k-1] − kp_driving[k-1]`` (trilinear, zeros padding,
        ``align_corners=False``). Channel 0 of every group is the heatmap
        difference (zero for group 0), channels 1..C the deformed features:
        exactly ``cat([heatmap, deformed], dim=2)`` as the reference builds it.
    """
    n, c, d, h, w = feature.shape
    k = kp_source.shape[1]
    motions = sparse_motions(kp_source, kp_driving, (d, h, w))  # (N, K+1, D, H, W, 3)
    repeated = feature.unsqueeze(1).expand(n, k + 1, c, d, h, w).reshape(n * (k + 1), c, d, h, w)
    deformed = F.grid_sample(
        repeated,
        motions.reshape(n * (k + 1), d, h, w, 3),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    ).view(n, k + 1, c, d, h, w)
    heat = _heatmap_differences(kp_source, kp_driving, (d, h, w), kp_variance)
    return torch.cat([heat, deformed], dim=2)


def dense_warp(
    feature: Tensor,
    mask: Tensor,
    kp_source: Tensor,
    kp_driving: Tensor,
    return_deformation: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Deformation from the motion mask, then the feature warped by it.

    Args:
        feature: (N, C, Df, Hf, Wf) full appearance volume.
        mask: (N, K+1, D, H, W) softmaxed motion mask (group 0 = background).
        kp_source: (N, K, 3) source keypoints.
        kp_driving: (N, K, 3) driving keypoints.
        return_deformation: also return the deformation.

    Returns:
        warped (N, C, D, H, W) = ``grid_sample(feature, deformation)`` (trilinear,
        zeros, ``align_corners=False``) where deformation (N, D, H, W, 3) =
        Σ_j mask_j · sparse_motion_j; and the deformation when requested.
    """
    d, h, w = mask.shape[2:]
    motions = sparse_motions(kp_source, kp_driving, (d, h, w))  # (N, K+1, D, H, W, 3)
    deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)
    warped = F.grid_sample(feature, deformation, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (warped, deformation) if return_deformation else warped


def _rel_shift(x: Tensor) -> Tensor:
    """The rel_shift of espnet: (B, H, T, 2T−1) → (B, H, T, T) with out[i, j] = x[i, T−1−i+j]."""
    b, h, t, m = x.shape
    padded = torch.cat([x.new_zeros(b, h, t, 1), x], dim=-1).view(b, h, m + 1, t)
    return padded[:, :, 1:].reshape(b, h, t, m)[:, :, :, : m // 2 + 1]


def _allowed(
    t: int, key_mask: Tensor | None, context: tuple[int, int] | None, batch: int, device: torch.device
) -> Tensor:
    """(B, 1, T, T) boolean: key j may be attended from query i."""
    allowed = torch.ones(batch, 1, t, t, dtype=torch.bool, device=device)
    if key_mask is not None:
        allowed = allowed & key_mask.to(torch.bool).view(batch, 1, 1, t)
    if context is not None:
        left, right = context
        i = torch.arange(t, device=device).view(t, 1)
        j = torch.arange(t, device=device).view(1, t)
        if left >= 0:
            allowed = allowed & (j >= i - left)
        if right >= 0:
            allowed = allowed & (j <= i + right)
    return allowed


def _normalise_pos(pos: Tensor, batch: int) -> Tensor:
    return pos.unsqueeze(0) if pos.dim() == 3 else pos


def relpos_scores(
    q: Tensor, k: Tensor, pos: Tensor, pos_bias_u: Tensor, pos_bias_v: Tensor, scale: float | None = None
) -> Tensor:
    """Unmasked scores (B, H, T, T) as espnet computes them (matrix_ac + rel_shift(matrix_bd))."""
    b, t, h, dk = q.shape
    scale = dk**-0.5 if scale is None else scale
    p = _normalise_pos(pos, b).transpose(1, 2)  # (Bp, H, 2T-1, Dk)
    qt = q.transpose(1, 2)  # (B, H, T, Dk)
    q_u = qt + pos_bias_u.view(1, h, 1, dk)
    q_v = qt + pos_bias_v.view(1, h, 1, dk)
    matrix_ac = q_u @ k.transpose(1, 2).transpose(-2, -1)
    matrix_bd = _rel_shift(q_v @ p.transpose(-2, -1))
    return (matrix_ac + matrix_bd) * scale


def relpos_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pos: Tensor,
    pos_bias_u: Tensor,
    pos_bias_v: Tensor,
    key_mask: Tensor | None = None,
    context: tuple[int, int] | None = None,
    scale: float | None = None,
) -> Tensor:
    """Relative-position multi-head attention core (Transformer-XL / espnet "new").

    Args:
        q: (B, T, H, Dk) projected queries.
        k: (B, T, H, Dk) projected keys.
        v: (B, T, H, Dk) projected values.
        pos: (2T−1, H, Dk) or (Bp, 2T−1, H, Dk) with Bp ∈ {1, B}: projected
            relative position embeddings; row m encodes distance T−1−m (row 0 =
            +(T−1), row T−1 = 0).
        pos_bias_u: (H, Dk) learned content bias.
        pos_bias_v: (H, Dk) learned position bias.
        key_mask: optional (B, T), nonzero = valid key.
        context: optional (left, right): query i attends keys j with
            i − left ≤ j ≤ i + right (−1 = unlimited; right = 0 is causal).
        scale: score scale, default 1/sqrt(Dk).

    Returns:
        (B, T, H, Dk): softmax_j(S) · V with S[i, j] = ((q_i+u)·k_j +
        (q_i+v)·pos[T−1−i+j]) · scale over allowed keys; queries with no
        allowed key return zeros (espnet zeroes their probabilities).
    """
    b, t, _h, _dk = q.shape
    scores = relpos_scores(q, k, pos, pos_bias_u, pos_bias_v, scale)
    if key_mask is None and context is None:
        attn = torch.softmax(scores, dim=-1)
    else:
        allowed = _allowed(t, key_mask, context, b, q.device)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        attn = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
    out = attn @ v.transpose(1, 2)  # (B, H, T, Dk)
    return out.transpose(1, 2).contiguous()
