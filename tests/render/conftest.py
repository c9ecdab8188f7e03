"""Shared fixtures for the renderer tests: MediaPipe landmarks and the LivePortrait conformance fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def landmarks():
    """MediaPipe's face landmarks, one graph per test module."""
    from pyavatar.face.landmarks import MediaPipeLandmarks

    with MediaPipeLandmarks() as backend:
        yield backend


@pytest.fixture(scope="session")
def lp_dir(fixtures_dir: Path) -> Path:
    """The LivePortrait fixture folder; skips the test, naming it, when it is absent."""
    lp = fixtures_dir / "liveportrait"
    if not (lp / "config_reduced.json").is_file():
        pytest.skip(f"LivePortrait conformance fixtures not found at {lp}")
    return lp


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
