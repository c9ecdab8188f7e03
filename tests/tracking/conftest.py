"""Shared fixtures: sample portraits rendered through known FaceParams sequences by the classical renderer."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.face.params import FaceParams

FPS = 30.0
LEAD = 8  # neutral frames the tracker calibrates on
SIZE = 320


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    from pyavatar.render.classical import raster

    raster.set_threads(1)


@pytest.fixture(scope="session")
def rendered():
    """``rendered(portrait, frames, seed)`` → (known FaceParams, (T, SIZE, SIZE, 3) frames), cached."""
    from pyavatar.bench.tracking import portrait_image, render_sequence
    from pyavatar.tracking.roundtrip import known_sequence

    cache: dict[tuple[str, int, int], tuple[FaceParams, np.ndarray]] = {}

    def get(portrait: str, frames: int = 75, seed: int = 0) -> tuple[FaceParams, np.ndarray]:
        key = (portrait, frames, seed)
        if key not in cache:
            known = known_sequence(frames, FPS, lead=LEAD, seed=seed)
            cache[key] = known, render_sequence(portrait_image(portrait), known, SIZE)
        return cache[key]

    return get
