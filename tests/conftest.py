"""Test-wide setup.

Without a CUDA device, Triton kernels can only run in its interpreter, which is
chosen when ``triton`` is imported; set it before anything imports triton.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _cuda_present() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # torch missing or broken: the tests report that themselves
        return False


if not _cuda_present():
    os.environ.setdefault("TRITON_INTERPRET", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (CI has it; a user's clone may not)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED} (they live beside the checkout in CI)")
    return SHARED
