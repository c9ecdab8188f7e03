"""Test-wide setup.

Without a CUDA device, Triton kernels can only run in its interpreter, which is
chosen when ``triton`` is imported; set it before anything imports triton.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
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
FIXTURES = Path(os.environ.get("PYAVATAR_FIXTURES") or SHARED / "fixtures")
"""The conformance fixtures: ``$PYAVATAR_FIXTURES``, else ``../shared/fixtures`` beside the checkout."""


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The conformance fixture folder; skips the test, naming where it looked, when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(
            f"conformance fixtures not found at {FIXTURES} (set PYAVATAR_FIXTURES, or put ../shared "
            "beside the checkout as CI does)"
        )
    return FIXTURES


@pytest.fixture(scope="session")
def lp_depth_slice(fixtures_dir: Path) -> int:
    """Depth index d of the 5-D dense-motion tensors that the LivePortrait fixture keeps as ``dm.*_slice``.

    The fixture states it once, in its README ("depth slice d = N"); read from there, not repeated in tests.
    """
    readme = fixtures_dir / "liveportrait" / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    match = re.search(r"depth slice d\s*=\s*(\d+)", text)
    if match is None:
        raise LookupError(f"{readme}: no 'depth slice d = N' found; the dm.*_slice tensors need their depth index")
    return int(match.group(1))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` itself, for tools that look there (scripts/gpu_check.sh); tests read ``fixtures_dir``."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED} (they live beside the checkout in CI)")
    return SHARED


@pytest.fixture(scope="session")
def espeak():
    """The espeak-ng library (skips when it is missing)."""
    from pyavatar.evaluation.espeak import Espeak, EspeakError

    try:
        return Espeak()
    except EspeakError as e:
        pytest.skip(f"espeak-ng unavailable: {e}")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest (and steadiest on a loaded machine) on one torch thread."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (CI runs everything)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick default run skips ``slow`` tests; ``--run-slow`` (the README's test command) runs them."""
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (the README's test command runs all tests)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
