"""Shared fixtures for the renderer tests: the LivePortrait conformance data in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
LP_FIXTURES = REPO.parent / "shared" / "fixtures" / "liveportrait"


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def lp_dir() -> Path:
    """The LivePortrait fixture folder; skips the test when ../shared is absent."""
    if not (LP_FIXTURES / "config_reduced.json").is_file():
        pytest.skip(f"LivePortrait conformance fixtures not found at {LP_FIXTURES} (../shared is absent)")
    return LP_FIXTURES


@pytest.fixture(scope="session")
def reduced_config(lp_dir: Path):
    from pyavatar.render.liveportrait.config import LivePortraitConfig

    return LivePortraitConfig.from_json(lp_dir / "config_reduced.json")


@pytest.fixture(scope="session")
def reduced_models(lp_dir: Path, reduced_config):
    """Reduced-config modules with the fixture weights (shared: do not modify their weights)."""
    from pyavatar.render.liveportrait.weights import load_liveportrait

    return load_liveportrait(lp_dir / "weights", reduced_config)


@pytest.fixture(scope="session")
def lp_io(lp_dir: Path):
    """Loader of ``<name>.io.safetensors`` (cached)."""
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(name: str) -> dict[str, torch.Tensor]:
        if name not in cache:
            cache[name] = load_file(str(lp_dir / f"{name}.io.safetensors"))
        return cache[name]

    return get
