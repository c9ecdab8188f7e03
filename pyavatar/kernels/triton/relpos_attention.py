"""Relative-position self-attention core (Transformer-XL / espnet) as one Triton kernel.

One program owns BLOCK_M queries of one (batch, head) and streams the allowed
key blocks with an online softmax (float32 running max, sum and output).
For a query block [m0, m0+BM) and key block [n0, n0+BN) the positional rows
``pos[T−1−i+j]`` form a band of BM+BN−1 consecutive rows starting at
``T−1−(m0+BM−1)+n0``: the kernel multiplies (q+v) by that band with one
``tl.dot`` and picks each (i, j) entry out of the product with ``tl.gather``
at band index ``j−i+BM−1``. Scores are accumulated over Dk in chunks of
BLOCK_D, so Dk up to 512 fits.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from pyavatar.kernels.triton._launch import INTERPRETED, next_pow2, on_device

_LOG2E = math.log2(math.e)


@triton.jit
def _index(x, WIDE_INDEX: tl.constexpr):
    """Index vector in int64 when offsets inside one (batch, head) slice may pass 2**31."""
    if WIDE_INDEX:
        x = x.to(tl.int64)
    return x


@triton.jit
def _relpos_attention_kernel(
    q,
    q_b,
    q_t,
    q_h,
    q_d,
    k,
    k_b,
    k_t,
    k_h,
    k_d,
    v,
    v_b,
    v_t,
    v_h,
    v_d,
    pos,
    p_b,
    p_t,
    p_h,
    p_d,
    bias_u,
    u_h,
    u_d,
    bias_v,
    bv_h,
    bv_d,
    key_mask,
    km_b,
    km_t,
    out,
    T,
    H,
    Dk,
    left,
    right,
    qk_scale,
    HAS_MASK: tl.constexpr,
    WIDE_INDEX: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DK_PAD: tl.constexpr,
    BAND: tl.constexpr,
):
    m0 = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    q += b * q_b + h * q_h
    k += b * k_b + h * k_h
    v += b * v_b + h * v_h
    pos += b * p_b + h * p_h
    bias_u += h * u_h
    bias_v += h * bv_h
    dot_ty = q.dtype.element_ty

    i = _index(m0 + tl.arange(0, BLOCK_M), WIDE_INDEX)
    i_ok = i < T
    q_rows = i * q_t
    d_all = _index(tl.arange(0, DK_PAD), WIDE_INDEX)
    d_all_ok = d_all < Dk
    # Band index of (i, j) relative to the band's first row: (j − n0) − (i − m0) + BM − 1.
    band_index = tl.arange(0, BLOCK_N)[None, :] - tl.arange(0, BLOCK_M)[:, None] + (BLOCK_M - 1)

    # Keys any query of this block may see; start aligned to BLOCK_N.
    lo = tl.where(left >= 0, tl.maximum(m0 - left, 0), 0)
    lo = (lo // BLOCK_N) * BLOCK_N
    hi = tl.where(right >= 0, tl.minimum(m0 + BLOCK_M + right, T), T)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, DK_PAD], tl.float32)
    for n0 in range(lo, hi, BLOCK_N):
        j = _index(n0 + tl.arange(0, BLOCK_N), WIDE_INDEX)
        j_ok = j < T
        k_rows = j * k_t
        r = _index((T - 1 - (m0 + BLOCK_M - 1) + n0) + tl.arange(0, BAND), WIDE_INDEX)
        r_ok = (r >= 0) & (r < 2 * T - 1)
        p_rows = r * p_t

        content = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        band = tl.zeros([BLOCK_M, BAND], tl.float32)
        # Constant trip count: with a single chunk the loop vanishes (a runtime Dk bound made ptxas spill).
        for d0 in range(0, DK_PAD, BLOCK_D):
            d = _index(d0 + tl.arange(0, BLOCK_D), WIDE_INDEX)
            d_ok = d < Dk
            qc = tl.load(q + q_rows[:, None] + d[None, :] * q_d, mask=i_ok[:, None] & d_ok[None, :], other=0.0)
            qc = qc.to(tl.float32)
            uc = tl.load(bias_u + d * u_d, mask=d_ok, other=0.0).to(tl.float32)
            vc = tl.load(bias_v + d * bv_d, mask=d_ok, other=0.0).to(tl.float32)
            kc = tl.load(k + k_rows[:, None] + d[None, :] * k_d, mask=j_ok[:, None] & d_ok[None, :], other=0.0)
            pc = tl.load(pos + p_rows[:, None] + d[None, :] * p_d, mask=r_ok[:, None] & d_ok[None, :], other=0.0)
            q_u = (qc + uc[None, :]).to(dot_ty)
            q_v = (qc + vc[None, :]).to(dot_ty)
            content = tl.dot(q_u, tl.trans(kc), content, input_precision=PRECISION)
            band = tl.dot(q_v, tl.trans(pc), band, input_precision=PRECISION)
        scores = (content + tl.gather(band, band_index, 1)) * qk_scale

        allowed = i_ok[:, None] & j_ok[None, :]
        offset = j[None, :] - i[:, None]
        allowed &= (left < 0) | (offset >= -left)
        allowed &= (right < 0) | (offset <= right)
        if HAS_MASK:
            valid_key = tl.load(key_mask + b * km_b + j * km_t, mask=j_ok, other=0)
            allowed &= (valid_key != 0)[None, :]
        scores = tl.where(allowed, scores, float("-inf"))

        m_new = tl.maximum(m_i, tl.max(scores, 1))
        # A row with nothing allowed yet keeps max −inf; shift by 0 so exp2 gives 0, not NaN.
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - shift)
        p = tl.exp2(scores - shift[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        vt = tl.load(v + j[:, None] * v_t + d_all[None, :] * v_d, mask=j_ok[:, None] & d_all_ok[None, :], other=0.0)
        acc = tl.dot(p.to(dot_ty), vt, acc * alpha[:, None], input_precision=PRECISION)
        m_i = m_new

    # Rows that saw no allowed key have l_i = 0 and acc = 0: they stay zero.
    acc = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    o = out + ((b * T + i.to(tl.int64)) * H + h) * Dk
    tl.store(o[:, None] + d_all[None, :], acc.to(out.dtype.element_ty), mask=i_ok[:, None] & d_all_ok[None, :])


def attention_blocks(t: int, dk: int, dtype: torch.dtype) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_D, num_warps) for sequence length ``t``, head dim ``dk`` and ``dtype``.

    Compiled: chosen so that ptxas reports no register spills for sm_80, sm_89
    and sm_90 (checked by compiling, not timed on hardware). The float32
    accumulator is BLOCK_M × next_pow2(Dk), the band BLOCK_M × (BLOCK_M +
    BLOCK_N), so blocks shrink as Dk grows and for float32 operands (whose
    3-pass tf32 dots need more registers). Interpreted: one block spans the
    sequence where possible, since every program costs Python overhead.
    All sizes are at least 16, the smallest ``tl.dot`` operand.
    """
    dk_pad = max(16, next_pow2(dk))
    if INTERPRETED:
        block = max(16, min(next_pow2(t), 64))
        return block, block, min(dk_pad, 128), 4
    if dtype == torch.float32:
        return 16, 32 if dk_pad <= 256 else 16, min(dk_pad, 32), 8
    if dk_pad <= 64:
        return 32, 32, dk_pad, 4
    return 32 if dk_pad <= 256 else 16, 32, 32, 8


def _max_offset(t: Tensor) -> int:
    """Largest element offset of ``t`` from its first element."""
    return sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride()))


def relpos_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pos: Tensor,
    pos_bias_u: Tensor,
    pos_bias_v: Tensor,
    key_mask: Tensor | None,
    left: int,
    right: int,
    scale: float,
    *,
    blocks: tuple[int, int, int] | None = None,
) -> Tensor:
    """(B, T, H, Dk) attention output in ``q``'s dtype; inputs as ``KernelBackend.relpos_attention``.

    ``blocks`` = (BLOCK_M, BLOCK_N, BLOCK_D), powers of two ≥ 16, overrides
    the automatic choice of :func:`attention_blocks`.
    """
    b, t, h, dk = q.shape
    block_m, block_n, block_d, warps = attention_blocks(t, dk, q.dtype)
    if blocks is not None:
        if any(x < 16 or x & (x - 1) for x in blocks):
            raise ValueError(f"relpos_attention: blocks must be powers of two >= 16, got {blocks}")
        block_m, block_n, block_d = blocks
    dk_pad = max(16, next_pow2(dk))
    block_d = min(block_d, dk_pad)
    out = torch.empty((b, t, h, dk), dtype=q.dtype, device=q.device)
    km_strides = (0, 0) if key_mask is None else key_mask.stride()
    wide = max(_max_offset(x) for x in (q, k, v, pos)) > 2**31 - 1
    launch = (triton.cdiv(t, block_m), b * h)
    # left/right are clipped to T (same window, no int32 overflow in the kernel's bounds).
    with on_device(q):
        _relpos_attention_kernel[launch](
            q,
            *q.stride(),
            k,
            *k.stride(),
            v,
            *v.stride(),
            pos,
            *pos.stride(),
            pos_bias_u,
            *pos_bias_u.stride(),
            pos_bias_v,
            *pos_bias_v.stride(),
            key_mask,
            *km_strides,
            out,
            t,
            h,
            dk,
            min(int(left), t),
            min(int(right), t),
            float(scale) * _LOG2E,
            HAS_MASK=key_mask is not None,
            WIDE_INDEX=wide,
            PRECISION="tf32x3" if q.dtype == torch.float32 else "tf32",
            BLOCK_M=block_m,
            BLOCK_N=block_n,
            BLOCK_D=block_d,
            DK_PAD=dk_pad,
            BAND=next_pow2(block_m + block_n - 1),
            num_warps=warps,
            num_stages=2,
        )
    return out
