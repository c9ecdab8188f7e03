"""The ``neural`` renderer name: user-supplied LivePortrait weights behind the FaceRenderer protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyavatar.face.params import FaceParams
from pyavatar.render.base import FaceRenderer
from pyavatar.render.registry import make_renderer


def test_neural_without_weights_says_what_to_pass():
    with pytest.raises(ValueError, match=r"needs LivePortrait weights: pass weights=DIR \(CLI: --weights DIR\)"):
        make_renderer("neural")


def test_neural_renderer_from_the_fixture_weights_renders_frames(lp_dir: Path):
    renderer = make_renderer(
        "neural", weights=lp_dir / "weights", config=lp_dir / "config_reduced.json", batch=2, kernel_backend="cpp"
    )
    assert isinstance(renderer, FaceRenderer) and renderer.name == "neural"
    image = np.full((300, 400, 3), 120, dtype=np.uint8)
    image[100:220, 150:260] = (200, 160, 140)
    prepared = renderer.prepare(image, crop=(140, 90, 130, 140))  # no face detection: any picture works
    frames = renderer.render_params(prepared, FaceParams.from_fields(jaw_open=np.array([0.0, 1.0])))
    assert frames.shape == (2, 300, 400, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[:, :20, :20], np.broadcast_to(image[:20, :20], (2, 20, 20, 3)))
