"""Triton backend against the PyTorch reference.

Without CUDA the kernels run on CPU tensors under the Triton interpreter
(float32 only); with CUDA (and TRITON_INTERPRET unset) the same tests run
compiled on the GPU and add float16/bfloat16, compared with the float32
reference on the up-cast inputs.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

if not torch.cuda.is_available():
    # Must precede the first import of the kernel modules (triton.jit decides at decoration).
    os.environ.setdefault("TRITON_INTERPRET", "1")

pytest.importorskip("triton", reason="triton is not installed")

from pyavatar.kernels import dispatch, reference  # noqa: E402
from pyavatar.kernels import ops as kops  # noqa: E402
from pyavatar.kernels.triton import BACKEND  # noqa: E402
from pyavatar.kernels.triton import relpos_attention as attention_module  # noqa: E402
from pyavatar.kernels.triton._launch import INTERPRETED  # noqa: E402

if INTERPRETED:
    DEVICE = torch.device("cpu")
    DTYPES = [torch.float32]
elif torch.cuda.is_available():
    DEVICE = torch.device("cuda")
    DTYPES = [torch.float32, torch.float16, torch.bfloat16]
else:
    pytest.skip("no CUDA and the Triton kernels were loaded without TRITON_INTERPRET=1", allow_module_level=True)

# Max abs error allowed vs the float32 reference (outputs are O(1)).
ATOL = {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
dtype_param = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))


def _rand(*shape: int, dtype: torch.dtype = torch.float32, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    return (torch.rand(*shape, dtype=torch.float32) * (high - low) + low).to(device=DEVICE, dtype=dtype)


def _ref(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.float() if t.is_floating_point() else t


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> None:
    assert got.dtype == dtype and got.device.type == DEVICE.type and got.is_contiguous()
    torch.testing.assert_close(got.float(), want.float(), atol=ATOL[dtype], rtol=0)


# ----------------------------------------------------------------------------- availability


def test_backend_reports_usable_here() -> None:
    assert BACKEND.unavailable_reason() is None
    assert BACKEND.unsupported_reason("dense_warp", DEVICE, torch.float32) is None
    assert dispatch.select("grid_sample_3d", DEVICE, torch.float32, backend="triton") is BACKEND


def test_backend_rejects_what_it_cannot_run() -> None:
    assert "float32, float16 or bfloat16" in BACKEND.unsupported_reason("relpos_attention", DEVICE, torch.float64)
    assert "got meta" in BACKEND.unsupported_reason("grid_sample_3d", torch.device("meta"), torch.float32)
    if INTERPRETED:
        reason = BACKEND.unsupported_reason("grid_sample_3d", DEVICE, torch.bfloat16)
        assert "interpreter runs float32 only" in reason
        if not torch.cuda.is_available():
            cuda = torch.device("cuda")
            assert "CUDA is not available" in BACKEND.unsupported_reason("dense_warp", cuda, torch.float32)


def test_cpu_needs_interpreter_before_kernels_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pyavatar.kernels.triton._launch")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    reason = BACKEND.unsupported_reason("deform_features", torch.device("cpu"), torch.float32)
    assert reason is not None and "TRITON_INTERPRET=1" in reason
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert BACKEND.unsupported_reason("deform_features", torch.device("cpu"), torch.float32) is None


# ----------------------------------------------------------------------------- grid_sample_3d


@dtype_param
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_3d(dtype: torch.dtype, padding_mode: str, align_corners: bool) -> None:
    torch.manual_seed(0)
    # Non-contiguous volume (channels-last storage) and grid (every other point of a larger one).
    volume = _rand(2, 4, 5, 6, 5, dtype=dtype).permute(0, 4, 1, 2, 3)  # (N, C=5, D=4, H=5, W=6)
    grid = _rand(2, 3, 7, 10, 3, dtype=dtype, low=-1.6, high=1.6)[:, :, :, ::2]
    # Exact edges, far outside, and points just beyond the border.
    grid[0, 0, 0, 0] = torch.tensor([-1.0, 1.0, -1.0])
    grid[0, 0, 0, 1] = torch.tensor([1e4, -1e4, 0.3])
    grid[1, 2, 6, 4] = torch.tensor([1.02, -1.03, 0.99])
    assert not volume.is_contiguous() and not grid.is_contiguous()
    got = kops.grid_sample_3d(volume, grid, padding_mode, align_corners, backend="triton")
    want = reference.grid_sample_3d(_ref(volume), _ref(grid), padding_mode, align_corners)
    assert got.shape == (2, 5, 3, 7, 5)
    _close(got, want, dtype)


def test_grid_sample_3d_many_channels_and_unit_axis() -> None:
    torch.manual_seed(1)
    volume = _rand(1, 37, 1, 3, 9)  # D = 1, C spans several channel blocks on GPU
    grid = _rand(1, 2, 2, 33, 3, low=-1.2, high=1.2)
    for padding_mode in ("zeros", "border"):
        got = kops.grid_sample_3d(volume, grid, padding_mode, False, backend="triton")
        _close(got, reference.grid_sample_3d(volume, grid, padding_mode, False), torch.float32)


# ----------------------------------------------------------------------------- deform_features


@dtype_param
@pytest.mark.parametrize("kp_variance", [0.01, 0.3])
def test_deform_features(dtype: torch.dtype, kp_variance: float) -> None:
    torch.manual_seed(2)
    feature = _rand(2, 3, 4, 5, 6, dtype=dtype).transpose(-1, -2).contiguous().transpose(-1, -2)
    kp_source = _rand(2, 3, 4, dtype=dtype, low=-1.2, high=1.2)[..., 1:]  # non-contiguous (N, K, 3)
    kp_driving = _rand(3, 2, 3, dtype=dtype, low=-1.2, high=1.2).transpose(0, 1)
    assert not kp_source.is_contiguous() and not kp_driving.is_contiguous()
    got = kops.deform_features(feature, kp_source, kp_driving, kp_variance, backend="triton")
    want = reference.deform_features(_ref(feature), _ref(kp_source), _ref(kp_driving), kp_variance)
    assert got.shape == (2, 4, 4, 4, 5, 6)
    _close(got, want, dtype)
    assert torch.all(got[:, 0, 0] == 0)  # group 0 heatmap is exactly zero


# ----------------------------------------------------------------------------- dense_warp


@dtype_param
@pytest.mark.parametrize("return_deformation", [False, True])
def test_dense_warp(dtype: torch.dtype, return_deformation: bool) -> None:
    torch.manual_seed(3)
    feature = _rand(2, 3, 5, 7, 6, dtype=dtype)[:, :, :, 1:]  # (N, C=3, Df=5, Hf=6, Wf=6), strided
    # (N, K+1=5, D=4, H=3, W=5), softmaxed over K+1, stored H-major (non-contiguous).
    mask = torch.softmax(_rand(2, 5, 3, 4, 5, low=-3, high=3), dim=1).to(dtype).transpose(2, 3)
    kp_source = _rand(2, 4, 3, dtype=dtype, low=-0.9, high=0.9)
    kp_driving = _rand(2, 4, 3, dtype=dtype, low=-0.9, high=0.9)
    result = kops.dense_warp(
        feature, mask, kp_source, kp_driving, return_deformation=return_deformation, backend="triton"
    )
    want, want_deformation = reference.dense_warp(
        _ref(feature), _ref(mask), _ref(kp_source), _ref(kp_driving), return_deformation=True
    )
    if return_deformation:
        got, deformation = result
        assert deformation.shape == (2, 4, 3, 5, 3)
        _close(deformation, want_deformation, dtype)
    else:
        got = result
    assert got.shape == (2, 3, 4, 3, 5)
    _close(got, want, dtype)


# ----------------------------------------------------------------------------- relpos_attention


def _attention_inputs(
    b: int, t: int, h: int, dk: int, dtype: torch.dtype, shared_pos: bool
) -> tuple[torch.Tensor, ...]:
    packed = _rand(b, t, 3, h, dk, dtype=dtype)  # q, k, v as strided views of one projection
    q, k, v = packed.unbind(2)
    pos = _rand(1 if shared_pos else b, 2 * t - 1, h, dk, dtype=dtype)
    return q, k, v, pos, _rand(h, dk, dtype=dtype), _rand(h, dk, dtype=dtype)


def _check_attention(
    inputs: tuple[torch.Tensor, ...],
    key_mask: torch.Tensor | None,
    context: tuple[int, int] | None,
    dtype: torch.dtype,
    scale: float | None = None,
    blocks: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    q, k, v, pos, u, bv = inputs
    want = reference.relpos_attention(*(_ref(x) for x in inputs), key_mask, context, scale)
    if blocks is None:
        got = kops.relpos_attention(
            q, k, v, pos, u, bv, key_mask=key_mask, context=context, scale=scale, backend="triton"
        )
    else:
        left, right = context if context is not None else (-1, -1)
        mask_u8 = None if key_mask is None else (key_mask != 0).to(torch.uint8)
        got = attention_module.relpos_attention(
            q,
            k,
            v,
            pos.expand(q.shape[0], -1, -1, -1),
            u,
            bv,
            mask_u8,
            left,
            right,
            q.shape[-1] ** -0.5 if scale is None else scale,
            blocks=blocks,
        )
    assert got.shape == q.shape
    _close(got, want, dtype)
    return got


@dtype_param
@pytest.mark.parametrize("context", [None, (-1, 0), (2, 1), (0, 0), (3, -1), (2**31 - 1, 2**31 - 1)], ids=str)
def test_relpos_attention_windows_and_mask(dtype: torch.dtype, context: tuple[int, int] | None) -> None:
    torch.manual_seed(4)
    inputs = _attention_inputs(2, 13, 3, 20, dtype, shared_pos=True)
    key_mask = torch.rand(2, 13, device=DEVICE) > 0.3
    key_mask[1] = False  # batch 1 has no valid key at all: all-zero rows
    got = _check_attention(inputs, key_mask, context, dtype)
    assert torch.all(got[1] == 0)


@dtype_param
def test_relpos_attention_unmasked_per_batch_pos(dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    inputs = _attention_inputs(2, 9, 2, 16, dtype, shared_pos=False)
    _check_attention(inputs, None, None, dtype, scale=0.3)


def test_relpos_attention_single_frame_and_empty_rows() -> None:
    torch.manual_seed(6)
    _check_attention(_attention_inputs(1, 1, 2, 8, torch.float32, shared_pos=True), None, (-1, 0), torch.float32)
    # Valid keys only behind a causal window for the first queries: rows 0..3 see no key.
    inputs = _attention_inputs(1, 7, 1, 8, torch.float32, shared_pos=True)
    key_mask = torch.tensor([[0, 0, 0, 0, 1, 1, 0]], dtype=torch.uint8, device=DEVICE)
    got = _check_attention(inputs, key_mask, (-1, 0), torch.float32)
    assert torch.all(got[0, :4] == 0) and torch.all(got[0, 4:].abs().sum(-1) > 0)


@pytest.mark.parametrize("context", [None, (5, 1), (17, -1)], ids=str)
def test_relpos_attention_many_blocks_and_dk_chunks(context: tuple[int, int] | None) -> None:
    """Small blocks: several query and key blocks, windows that skip key blocks, Dk in 3 chunks."""
    torch.manual_seed(7)
    inputs = _attention_inputs(2, 37, 1, 40, torch.float32, shared_pos=True)
    key_mask = torch.rand(2, 37, device=DEVICE) > 0.2
    _check_attention(inputs, key_mask, context, torch.float32, blocks=(16, 16, 16))


def test_relpos_attention_max_head_dim() -> None:
    torch.manual_seed(8)
    inputs = _attention_inputs(1, 5, 1, 512, torch.float32, shared_pos=True)
    _check_attention(inputs, None, (1, 1), torch.float32, scale=512**-0.5)


def test_relpos_attention_wide_index_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tensors whose offsets pass 2**31 switch the kernel to int64 indexing; same results."""
    monkeypatch.setattr(attention_module, "_max_offset", lambda t: 2**31)
    torch.manual_seed(9)
    inputs = _attention_inputs(2, 21, 2, 24, torch.float32, shared_pos=False)
    key_mask = torch.rand(2, 21, device=DEVICE) > 0.2
    _check_attention(inputs, key_mask, (4, 2), torch.float32, blocks=(16, 16, 16))
