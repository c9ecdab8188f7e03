"""``video-keypoints`` builds driving keypoints as LivePortrait's video pipeline does: relative motion (checked
against the conformance fixture), then the renderer's stitching MLP (fixture-sized weights), and the frames it
emits compose, through the renderer's keypoint binding, into exactly those keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from pyavatar.motion.common.keypoints import SourceKeypoints, compose_keypoints, pack, unpack
from pyavatar.motion.sources.video_keypoints import VideoDriving


@pytest.fixture(scope="module")
def lp(fixtures_dir: Path) -> Path:
    path = fixtures_dir / "liveportrait"
    if not (path / "config_reduced.json").is_file():
        pytest.skip(f"LivePortrait conformance fixtures not found at {path}")
    return path


@pytest.fixture(scope="module")
def stitching(lp: Path):  # noqa: ANN201
    from pyavatar.render.liveportrait.config import LivePortraitConfig
    from pyavatar.render.liveportrait.weights import load_liveportrait

    torch.set_num_threads(1)
    return (
        load_liveportrait(lp / "weights", LivePortraitConfig.from_json(lp / "config_reduced.json"))
        .to("cpu")
        .stitching_retargeting_module
    )


def _math(lp: Path) -> tuple[SourceKeypoints, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The fixture's relative-motion case: source = item 0, first driving frame = item 1, frame i = item 2."""
    d = load_file(lp / "keypoint_math.io.safetensors")
    source = SourceKeypoints(d["kp_canonical"][0], d["R"][0], d["exp"][0], float(d["scale"][0, 0]), d["t"][0])
    raw = pack(
        {
            "exp": d["exp"],
            "scale": d["scale"],
            "t": d["t"],
            "pitch": d["degrees"][:, 0],
            "yaw": d["degrees"][:, 1],
            "roll": d["degrees"][:, 2],
        }
    )
    return source, raw[1], raw[2], d


def test_relative_motion_matches_liveportraits_video_pipeline(lp: Path) -> None:
    source, first, frame, d = _math(lp)
    driving = VideoDriving(source, None, 1.10)
    np.testing.assert_allclose(driving.relative(frame, first), d["rel.x_d"][0], atol=1e-5)
    np.testing.assert_allclose(driving.relative(first, first), source.x_s, atol=1e-5)  # frame 0: the portrait


def test_frames_compose_into_the_stitched_keypoints(lp: Path, stitching) -> None:  # noqa: ANN001
    source, first, frame, d = _math(lp)
    driving = VideoDriving(source, stitching, 1.10)
    with torch.inference_mode():
        want = stitching.stitch(torch.from_numpy(source.x_s)[None], torch.from_numpy(d["rel.x_d"]))[0].numpy()
    assert np.abs(want - d["rel.x_d"][0]).max() > 1e-3  # the stitching MLP does move the keypoints
    motion = driving(frame, first)
    assert motion.shape == (70,) and driving.reference.shape == (70,)

    def composed(m: np.ndarray) -> np.ndarray:  # what the renderer's keypoint binding does (its ×1.10 push too)
        return compose_keypoints(unpack(m[None]), source, reference=unpack(driving.reference[None]))[0]

    np.testing.assert_allclose(composed(motion), want, atol=1e-5)
    # offline resampling interpolates frames linearly: halfway between two frames composes halfway
    still = driving(first, first)
    np.testing.assert_allclose(composed((motion + still) / 2), (want + composed(still)) / 2, atol=1e-5)
