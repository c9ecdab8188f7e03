"""LivePortrait's warping ops in Triton: ``deform_features`` and ``dense_warp``.

Neither materialises the sparse motion grids: each program rebuilds the
align-corners lattice from its output indices and moves it by the keypoint
offsets, then samples with :func:`~pyavatar.kernels.triton.grid_sample_3d.sample_channels`
(zeros padding, ``align_corners=False``). All arithmetic is float32 whatever
the storage dtype, so half-precision results are closer to the float32
reference than the half-precision reference is (which rounds every step).
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from pyavatar.kernels._outputs import deform_features_output, dense_warp_outputs
from pyavatar.kernels.triton._launch import on_device, spatial_blocks
from pyavatar.kernels.triton.grid_sample_3d import sample_channels


@triton.jit
def _lattice(s, D, H, W):
    """The align-corners lattice (x, y, z) = 2·i/(n−1) − 1 at flat indices ``s`` of a (D, H, W) volume."""
    w = s % W
    h = (s // W) % H
    d = s // (W * H)
    px = 2.0 * (w.to(tl.float32) / (W - 1.0)) - 1.0
    py = 2.0 * (h.to(tl.float32) / (H - 1.0)) - 1.0
    pz = 2.0 * (d.to(tl.float32) / (D - 1.0)) - 1.0
    return px, py, pz, d, h, w


@triton.jit
def _keypoint(kp, kp_n, kp_k, kp_a, n, k, present):
    """(x, y, z) of keypoint ``k`` of batch ``n`` as float32; zeros where ``present`` is false."""
    p = kp + n * kp_n + k * kp_k
    x = tl.load(p, mask=present, other=0.0).to(tl.float32)
    y = tl.load(p + kp_a, mask=present, other=0.0).to(tl.float32)
    z = tl.load(p + 2 * kp_a, mask=present, other=0.0).to(tl.float32)
    return x, y, z


@triton.jit
def _deform_features_kernel(
    feat,
    f_n,
    f_c,
    f_d,
    f_h,
    f_w,
    C,
    D,
    H,
    W,
    kp_src,
    ks_n,
    ks_k,
    ks_a,
    kp_drv,
    kd_n,
    kd_k,
    kd_a,
    K,
    kp_variance,
    out,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    group = tl.program_id(1)  # 0 = identity lattice, k ≥ 1 = keypoint k − 1
    n = tl.program_id(2).to(tl.int64)
    points = D * H * W
    s = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
    valid = s < points
    px, py, pz, _d, _h, _w = _lattice(s, D, H, W)
    moved = group > 0
    k = tl.maximum(group - 1, 0).to(tl.int64)
    sx, sy, sz = _keypoint(kp_src, ks_n, ks_k, ks_a, n, k, moved)
    dx, dy, dz = _keypoint(kp_drv, kd_n, kd_k, kd_a, n, k, moved)

    # Heatmap difference Gaussian(driving) − Gaussian(source); exactly 0 for group 0.
    ex = px - dx
    ey = py - dy
    ez = pz - dz
    heat_drv = tl.exp(-0.5 * (ex * ex + ey * ey + ez * ez) / kp_variance)
    ex = px - sx
    ey = py - sy
    ez = pz - sz
    heat_src = tl.exp(-0.5 * (ex * ex + ey * ey + ez * ez) / kp_variance)
    base = out + (n * (K + 1) + group) * (C + 1) * points
    tl.store(base + s, (heat_drv - heat_src).to(out.dtype.element_ty), mask=valid)

    # Sample point lattice − driving + source, unnormalised with align_corners=False.
    x = ((px - dx + sx + 1.0) * W - 1.0) / 2.0
    y = ((py - dy + sy + 1.0) * H - 1.0) / 2.0
    z = ((pz - dz + sz + 1.0) * D - 1.0) / 2.0
    sample_channels(
        feat + n * f_n,
        f_c,
        f_d,
        f_h,
        f_w,
        C,
        D,
        H,
        W,
        x,
        y,
        z,
        valid,
        base + points,
        points,
        s,
        False,
        BLOCK_S,
        BLOCK_C,
    )


@triton.jit
def _dense_warp_kernel(
    feat,
    f_n,
    f_c,
    f_d,
    f_h,
    f_w,
    C,
    Df,
    Hf,
    Wf,
    mask,
    m_n,
    m_k,
    m_d,
    m_h,
    m_w,
    D,
    H,
    W,
    kp_src,
    ks_n,
    ks_k,
    ks_a,
    kp_drv,
    kd_n,
    kd_k,
    kd_a,
    K,
    out,
    deformation,
    WRITE_DEFORMATION: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    n = tl.program_id(1).to(tl.int64)
    points = D * H * W
    s = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
    valid = s < points
    px, py, pz, d, h, w = _lattice(s, D, H, W)
    m = mask + n * m_n + d.to(tl.int64) * m_d + h.to(tl.int64) * m_h + w.to(tl.int64) * m_w

    # Deformation Σ_j mask_j · motion_j, summed in group order like the reference.
    weight = tl.load(m, mask=valid, other=0.0).to(tl.float32)
    gx = px * weight
    gy = py * weight
    gz = pz * weight
    for k in range(0, K):
        weight = tl.load(m + (k + 1) * m_k, mask=valid, other=0.0).to(tl.float32)
        sx, sy, sz = _keypoint(kp_src, ks_n, ks_k, ks_a, n, k, True)
        dx, dy, dz = _keypoint(kp_drv, kd_n, kd_k, kd_a, n, k, True)
        gx += (px - dx + sx) * weight
        gy += (py - dy + sy) * weight
        gz += (pz - dz + sz) * weight
    if WRITE_DEFORMATION:
        o = deformation + (n * points + s) * 3
        tl.store(o, gx.to(deformation.dtype.element_ty), mask=valid)
        tl.store(o + 1, gy.to(deformation.dtype.element_ty), mask=valid)
        tl.store(o + 2, gz.to(deformation.dtype.element_ty), mask=valid)

    x = ((gx + 1.0) * Wf - 1.0) / 2.0
    y = ((gy + 1.0) * Hf - 1.0) / 2.0
    z = ((gz + 1.0) * Df - 1.0) / 2.0
    sample_channels(
        feat + n * f_n,
        f_c,
        f_d,
        f_h,
        f_w,
        C,
        Df,
        Hf,
        Wf,
        x,
        y,
        z,
        valid,
        out + n * C * points,
        points,
        s,
        False,
        BLOCK_S,
        BLOCK_C,
    )


def deform_features(feature: Tensor, kp_source: Tensor, kp_driving: Tensor, kp_variance: float) -> Tensor:
    """(N, K+1, C+1, D, H, W) heatmap differences and per-keypoint deformed features; any strides."""
    n, c, d, h, w = feature.shape
    k = kp_source.shape[1]
    out = deform_features_output(feature, kp_source)
    block_s, block_c, warps = spatial_blocks(d * h * w, c)
    launch = (triton.cdiv(d * h * w, block_s), k + 1, n)
    with on_device(feature):
        _deform_features_kernel[launch](
            feature,
            *feature.stride(),
            c,
            d,
            h,
            w,
            kp_source,
            *kp_source.stride(),
            kp_driving,
            *kp_driving.stride(),
            k,
            float(kp_variance),
            out,
            BLOCK_S=block_s,
            BLOCK_C=block_c,
            num_warps=warps,
        )
    return out


def dense_warp(
    feature: Tensor, mask: Tensor, kp_source: Tensor, kp_driving: Tensor, return_deformation: bool
) -> tuple[Tensor, Tensor | None]:
    """Warped (N, C, D, H, W) and, when asked, the (N, D, H, W, 3) deformation; any strides."""
    n, c = feature.shape[:2]
    k1, d, h, w = mask.shape[1:]
    out, deformation = dense_warp_outputs(feature, mask, return_deformation)
    block_s, block_c, warps = spatial_blocks(d * h * w, c)
    launch = (triton.cdiv(d * h * w, block_s), n)
    with on_device(feature):
        _dense_warp_kernel[launch](
            feature,
            *feature.stride(),
            c,
            *feature.shape[2:],
            mask,
            *mask.stride(),
            d,
            h,
            w,
            kp_source,
            *kp_source.stride(),
            kp_driving,
            *kp_driving.stride(),
            k1 - 1,
            out,
            deformation,
            WRITE_DEFORMATION=return_deformation,
            BLOCK_S=block_s,
            BLOCK_C=block_c,
            num_warps=warps,
        )
    return out, deformation
