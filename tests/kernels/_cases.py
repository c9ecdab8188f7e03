"""Backend × device × dtype combinations the kernel tests run, skipped with the dispatcher's reason."""

from __future__ import annotations

import pytest
import torch

from pyavatar.kernels.dispatch import get_backend

_CASES = [
    ("cpp", "cpu", torch.float32),
    ("triton", "cpu", torch.float32),
    ("cuda", "cuda", torch.float32),
    ("cuda", "cuda", torch.float16),
    ("cupy", "cuda", torch.float32),
    ("cupy", "cuda", torch.float16),
    ("triton", "cuda", torch.float32),
    ("triton", "cuda", torch.float16),
]
_ATTENTION_EXTRA = [
    ("cuda", "cuda", torch.bfloat16),
    ("cupy", "cuda", torch.bfloat16),
    ("triton", "cuda", torch.bfloat16),
]


def _param(backend: str, device: str, dtype: torch.dtype):
    marks = [pytest.mark.cuda] if device == "cuda" else []
    name = f"{backend}-{device}-{str(dtype).replace('torch.', '')}"
    return pytest.param(backend, torch.device(device), dtype, id=name, marks=marks)


WARP_CASES = [_param(*c) for c in _CASES]
ATTENTION_CASES = [_param(*c) for c in _CASES + _ATTENTION_EXTRA]


def require(op: str, backend: str, device: torch.device, dtype: torch.dtype) -> None:
    """Skip the test unless ``backend`` can run ``op`` here."""
    if device.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    b = get_backend(backend)
    reason = b.unavailable_reason() or b.unsupported_reason(op, device, dtype)
    if reason:
        pytest.skip(f"{backend}: {reason}")


def small(backend: str, device: torch.device) -> bool:
    """Interpreted Triton is slow: such cases use smaller problems."""
    return backend == "triton" and device.type == "cpu"


def assert_close_to_reference(
    out: torch.Tensor, ref64: torch.Tensor, ref_same_dtype: torch.Tensor, *, atol32: float = 1e-5
) -> None:
    """fp32: absolute error ≤ atol32 (+ relative 1e-5). Lower precision: error against the
    float64 reference at most 2× the error of PyTorch itself in that dtype, plus a small slack
    (the flash-attention rule)."""
    assert out.shape == ref64.shape, (out.shape, ref64.shape)
    assert out.dtype == ref_same_dtype.dtype
    err = (out.double() - ref64).abs().max().item()
    if out.dtype == torch.float32:
        bound = atol32 + 1e-5 * ref64.abs().max().item()
    else:
        torch_err = (ref_same_dtype.double() - ref64).abs().max().item()
        bound = 2 * torch_err + 1e-3 * max(1.0, ref64.abs().max().item())
    assert err <= bound, f"max abs error {err:.3g} > bound {bound:.3g}"
