"""relpos_attention: every backend against the espnet-style reference."""

from __future__ import annotations

import pytest
import torch

from pyavatar import kernels
from pyavatar.kernels import reference
from tests.kernels._cases import ATTENTION_CASES, assert_close_to_reference, require, small


def _inputs(b: int, t: int, h: int, dk: int, seed: int, shared_pos: bool = True):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, t, h, dk, generator=g) for _ in range(3))
    pos = torch.randn(2 * t - 1, h, dk, generator=g) if shared_pos else torch.randn(b, 2 * t - 1, h, dk, generator=g)
    u, vb = (0.5 * torch.randn(h, dk, generator=g) for _ in range(2))
    return q, k, v, pos, u, vb


def _check(backend, device, dtype, inputs, **kw):
    ref64 = reference.relpos_attention(*(x.double() for x in inputs), **kw)
    moved = [x.to(device, dtype) for x in inputs]
    if kw.get("key_mask") is not None:
        kw = {**kw, "key_mask": kw["key_mask"].to(device)}
    out = kernels.relpos_attention(*moved, key_mask=kw.get("key_mask"), context=kw.get("context"), backend=backend)
    same = reference.relpos_attention(*moved, **kw)
    assert_close_to_reference(out.cpu(), ref64, same.cpu())
    return out


@pytest.mark.parametrize("backend,device,dtype", ATTENTION_CASES)
@pytest.mark.parametrize("b,t,h,dk", [(2, 13, 2, 8), (1, 1, 3, 16), (1, 37, 4, 64)])
def test_relpos_attention_random(backend, device, dtype, b, t, h, dk):
    require("relpos_attention", backend, device, dtype)
    if small(backend, device) and t > 20:
        t = 20
    _check(backend, device, dtype, _inputs(b, t, h, dk, seed=t))


@pytest.mark.parametrize("backend,device,dtype", ATTENTION_CASES)
@pytest.mark.parametrize("dk", [256, 512])
def test_relpos_attention_large_head_dims(backend, device, dtype, dk):
    """AniTalker runs two heads of 256 (speech encoder) and 512 (decoder)."""
    require("relpos_attention", backend, device, dtype)
    t = 9 if small(backend, device) else 24
    _check(backend, device, dtype, _inputs(1, t, 2, dk, seed=dk))


@pytest.mark.parametrize("backend,device,dtype", ATTENTION_CASES)
def test_relpos_attention_masks_and_windows(backend, device, dtype):
    """Key mask with a fully masked batch row, causal and limited windows, per-batch pos."""
    require("relpos_attention", backend, device, dtype)
    t = 11
    inputs = _inputs(3, t, 2, 8, seed=5, shared_pos=False)
    mask = torch.ones(3, t, dtype=torch.bool)
    mask[1, 7:] = False
    mask[2] = False  # every key masked: output rows are zero
    for context in (None, (-1, 0), (3, 2), (0, 0)):
        out = _check(backend, device, dtype, inputs, key_mask=mask, context=context)
        assert (out[2] == 0).all()


@pytest.mark.parametrize("backend,device,dtype", ATTENTION_CASES)
def test_relpos_attention_strided_inputs(backend, device, dtype):
    """(B, H, T, Dk)-ordered storage viewed as (B, T, H, Dk), pos broadcast across the batch."""
    require("relpos_attention", backend, device, dtype)
    q, k, v, pos, u, vb = (x.to(device, dtype) for x in _inputs(2, 10, 3, 16, seed=9))
    qs, ks, vs = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (q, k, v))
    assert not qs.is_contiguous()
    out = kernels.relpos_attention(qs, ks, vs, pos.unsqueeze(0), u, vb, backend=backend)
    expect = kernels.relpos_attention(q, k, v, pos, u, vb, backend=backend)
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-6)
