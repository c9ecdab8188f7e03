"""Trilinear sampling of a 5-D volume (``F.grid_sample`` semantics) in Triton.

:func:`sample_channels` is the shared inner loop: given voxel-space sample
coordinates for a block of output points it gathers the eight corners of every
channel and writes the interpolated values. The warp kernels in
:mod:`pyavatar.kernels.triton.warp` reuse it with their own coordinates.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from pyavatar.kernels._outputs import grid_sample_3d_output
from pyavatar.kernels.triton._launch import on_device, spatial_blocks


@triton.jit
def _corner(base, offset, ok, weight, c_ok):
    """One corner's contribution to a (BLOCK_C, BLOCK_S) tile: value × weight, 0 out of range."""
    value = tl.load(base + offset[None, :], mask=c_ok[:, None] & ok[None, :], other=0.0)
    return value.to(tl.float32) * weight[None, :]


@triton.jit
def sample_channels(
    src,
    stride_c,
    stride_d,
    stride_h,
    stride_w,
    C,
    D,
    H,
    W,
    x,
    y,
    z,
    valid,
    dst,
    dst_stride_c,
    dst_offsets,
    BORDER: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """Trilinear samples of all C channels of one (C, D, H, W) volume.

    ``x``, ``y``, ``z`` are float32 voxel coordinates (already unnormalised)
    of BLOCK_S points, ``valid`` says which points exist. Channel c of point s
    goes to ``dst + c * dst_stride_c + dst_offsets[s]`` in ``dst``'s dtype.
    Padding is zeros (corners outside the volume read 0) or border
    (coordinates clipped to the volume first), as in ``F.grid_sample``.
    """
    if BORDER:
        x = tl.minimum(tl.maximum(x, 0.0), W - 1.0)
        y = tl.minimum(tl.maximum(y, 0.0), H - 1.0)
        z = tl.minimum(tl.maximum(z, 0.0), D - 1.0)
    else:
        # Every corner of a point beyond one voxel outside reads zero, so
        # clamping there changes nothing and keeps the int conversion in range.
        x = tl.minimum(tl.maximum(x, -2.0), W + 1.0)
        y = tl.minimum(tl.maximum(y, -2.0), H + 1.0)
        z = tl.minimum(tl.maximum(z, -2.0), D + 1.0)
    x0f = tl.floor(x)
    y0f = tl.floor(y)
    z0f = tl.floor(z)
    # Weights as ATen forms them: (next corner − p) and (p − corner).
    wx1 = x - x0f
    wy1 = y - y0f
    wz1 = z - z0f
    wx0 = (x0f + 1.0) - x
    wy0 = (y0f + 1.0) - y
    wz0 = (z0f + 1.0) - z
    x0 = x0f.to(tl.int32)
    y0 = y0f.to(tl.int32)
    z0 = z0f.to(tl.int32)
    ox0 = x0.to(tl.int64) * stride_w
    oy0 = y0.to(tl.int64) * stride_h
    oz0 = z0.to(tl.int64) * stride_d
    ox1 = ox0 + stride_w
    oy1 = oy0 + stride_h
    oz1 = oz0 + stride_d
    okx0 = (x0 >= 0) & (x0 < W)
    okx1 = (x0 >= -1) & (x0 < W - 1)
    oky0 = (y0 >= 0) & (y0 < H)
    oky1 = (y0 >= -1) & (y0 < H - 1)
    okz0 = valid & (z0 >= 0) & (z0 < D)
    okz1 = valid & (z0 >= -1) & (z0 < D - 1)

    c_range = tl.arange(0, BLOCK_C)
    for c_start in range(0, C, BLOCK_C):
        c = c_start + c_range
        c_ok = c < C
        base = src + (c.to(tl.int64) * stride_c)[:, None]
        # Corner order tnw, tne, tsw, tse, bnw, bne, bsw, bse (z, then y, then x).
        acc = _corner(base, oz0 + oy0 + ox0, okz0 & oky0 & okx0, wx0 * wy0 * wz0, c_ok)
        acc += _corner(base, oz0 + oy0 + ox1, okz0 & oky0 & okx1, wx1 * wy0 * wz0, c_ok)
        acc += _corner(base, oz0 + oy1 + ox0, okz0 & oky1 & okx0, wx0 * wy1 * wz0, c_ok)
        acc += _corner(base, oz0 + oy1 + ox1, okz0 & oky1 & okx1, wx1 * wy1 * wz0, c_ok)
        acc += _corner(base, oz1 + oy0 + ox0, okz1 & oky0 & okx0, wx0 * wy0 * wz1, c_ok)
        acc += _corner(base, oz1 + oy0 + ox1, okz1 & oky0 & okx1, wx1 * wy0 * wz1, c_ok)
        acc += _corner(base, oz1 + oy1 + ox0, okz1 & oky1 & okx0, wx0 * wy1 * wz1, c_ok)
        acc += _corner(base, oz1 + oy1 + ox1, okz1 & oky1 & okx1, wx1 * wy1 * wz1, c_ok)
        out = dst + (c.to(tl.int64) * dst_stride_c)[:, None] + dst_offsets[None, :]
        tl.store(out, acc.to(dst.dtype.element_ty), mask=c_ok[:, None] & valid[None, :])


@triton.jit
def _grid_sample_3d_kernel(
    inp,
    in_n,
    in_c,
    in_d,
    in_h,
    in_w,
    C,
    D,
    H,
    W,
    grid,
    g_n,
    g_d,
    g_h,
    g_w,
    g_k,
    Do,
    Ho,
    Wo,
    out,
    BORDER: tl.constexpr,
    ALIGN_CORNERS: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    n = tl.program_id(1).to(tl.int64)
    points = Do * Ho * Wo
    s = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
    valid = s < points
    ow = s % Wo
    oh = (s // Wo) % Ho
    od = s // (Wo * Ho)
    g = grid + n * g_n + od.to(tl.int64) * g_d + oh.to(tl.int64) * g_h + ow.to(tl.int64) * g_w
    gx = tl.load(g, mask=valid, other=0.0).to(tl.float32)
    gy = tl.load(g + g_k, mask=valid, other=0.0).to(tl.float32)
    gz = tl.load(g + 2 * g_k, mask=valid, other=0.0).to(tl.float32)
    if ALIGN_CORNERS:
        x = (gx + 1.0) / 2.0 * (W - 1.0)
        y = (gy + 1.0) / 2.0 * (H - 1.0)
        z = (gz + 1.0) / 2.0 * (D - 1.0)
    else:
        x = ((gx + 1.0) * W - 1.0) / 2.0
        y = ((gy + 1.0) * H - 1.0) / 2.0
        z = ((gz + 1.0) * D - 1.0) / 2.0
    sample_channels(
        inp + n * in_n,
        in_c,
        in_d,
        in_h,
        in_w,
        C,
        D,
        H,
        W,
        x,
        y,
        z,
        valid,
        out + n * C * points,
        points,
        s,
        BORDER,
        BLOCK_S,
        BLOCK_C,
    )


def grid_sample_3d(input: Tensor, grid: Tensor, padding_mode: str, align_corners: bool) -> Tensor:
    """(N, C, Do, Ho, Wo) samples of ``input`` (N, C, D, H, W) at ``grid`` (N, Do, Ho, Wo, 3); any strides."""
    n, c, d, h, w = input.shape
    do, ho, wo = grid.shape[1:4]
    out = grid_sample_3d_output(input, grid)
    block_s, block_c, warps = spatial_blocks(do * ho * wo, c)
    launch = (triton.cdiv(do * ho * wo, block_s), n)
    with on_device(input):
        _grid_sample_3d_kernel[launch](
            input,
            *input.stride(),
            c,
            d,
            h,
            w,
            grid,
            *grid.stride(),
            do,
            ho,
            wo,
            out,
            BORDER=padding_mode == "border",
            ALIGN_CORNERS=bool(align_corners),
            BLOCK_S=block_s,
            BLOCK_C=block_c,
            num_warps=warps,
        )
    return out
