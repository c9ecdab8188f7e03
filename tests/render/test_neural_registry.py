"""The ``neural`` renderer name: user-supplied LivePortrait weights behind the FaceRenderer protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.face.params import FaceParams
from pyavatar.render.base import FaceRenderer
from pyavatar.render.liveportrait.face_renderer import NeuralFaceRenderer
from pyavatar.render.registry import make_renderer


def test_neural_without_weights_says_what_to_pass():
    with pytest.raises(ValueError, match=r"needs LivePortrait weights: pass weights=DIR \(CLI: --weights DIR\)"):
        make_renderer("neural")


@pytest.mark.slow
def test_neural_renderer_from_the_fixture_weights_renders_frames(lp_dir: Path, reduced_models) -> None:
    """The registry's ``neural`` renderer is the LivePortrait path on the given weights and config.

    A renderer that returned its input (or ignored the weights or the params) would fail: it holds exactly
    the fixture's modules, the crop is repainted, and opening the jaw changes the face.
    """
    renderer = make_renderer(
        "neural", weights=lp_dir / "weights", config=lp_dir / "config_reduced.json", batch=2, kernel_backend="cpp"
    )
    assert isinstance(renderer, FaceRenderer) and renderer.name == "neural"
    image = np.full((300, 400, 3), 120, dtype=np.uint8)
    image[100:220, 150:260] = (200, 160, 140)
    crop = (140, 90, 130, 140)  # no face detection: any picture works
    params = FaceParams.from_fields(jaw_open=np.array([0.0, 1.0]))
    frames = renderer.render_params(renderer.prepare(image, crop=crop), params)
    assert frames.shape == (2, 300, 400, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[:, :20, :20], np.broadcast_to(image[:20, :20], (2, 20, 20, 3)))

    assert isinstance(renderer, NeuralFaceRenderer)
    loaded, fixture = renderer.neural.renderer.models.state_dict(), reduced_models.state_dict()
    assert loaded.keys() == fixture.keys() and all(torch.equal(loaded[k], fixture[k]) for k in loaded)
    face = (slice(None), slice(120, 200), slice(170, 240))  # inside the crop, away from its feathered edge
    changed = np.abs(frames[face].astype(int) - image[face[1:]].astype(int)).max(axis=-1)
    assert (changed > 8).mean() > 0.5, "the crop was not repainted by the network"
    assert np.abs(frames[1][face[1:]].astype(int) - frames[0][face[1:]].astype(int)).max() > 0, "jaw_open ignored"
