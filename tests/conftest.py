"""Test-wide setup.

Without a CUDA device, Triton kernels can only run in its interpreter, which is
chosen when ``triton`` is imported; set it before anything imports triton.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Per-user caches and settings go to a folder of this test run (inherited by CLI subprocesses), so tests
# neither read a developer's cache nor leave files in their home.
_USER_DIRS = tempfile.mkdtemp(prefix="pyavatar-tests-")
atexit.register(shutil.rmtree, _USER_DIRS, True)
os.environ.setdefault("PYAVATAR_CACHE_DIR", os.path.join(_USER_DIRS, "cache"))
os.environ.setdefault("PYAVATAR_CONFIG_DIR", os.path.join(_USER_DIRS, "config"))


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
