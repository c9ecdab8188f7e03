"""Hybrid audio+video mixing and expression from a reference."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.bench.tracking import portrait_image, render_sequence
from pyavatar.face.params import FaceParams
from pyavatar.motion.compose import compose
from pyavatar.tracking.hybrid import HybridMixer
from pyavatar.tracking.reference import emotion_offsets, reference_expression

AUDIO = FaceParams.from_fields(jaw_open=0.6, mouth_round=0.3, head_yaw=5.0, blink_left=0.2, happy=0.7)
VIDEO = FaceParams.from_fields(jaw_open=0.3, head_yaw=-20.0, blink_left=1.0, brow_up_left=0.8, smile_left=0.5)


def test_regions_follow_their_weights_and_can_change_live():
    mix = HybridMixer()
    out = mix.mix(AUDIO, VIDEO, speaking=1.0, video_found=True, t=0.0)
    assert out.jaw_open[0] == pytest.approx(0.6) and out.mouth_round[0] == pytest.approx(0.3)  # mouth: audio
    assert out.head_yaw[0] == -20.0 and out.blink_left[0] == 1.0 and out.brow_up_left[0] == pytest.approx(0.8)
    assert out.happy[0] == pytest.approx(0.7)  # emotions stay with the audio side
    mix.set_weight("head", 0.25)
    out = mix.mix(AUDIO, VIDEO, speaking=1.0, video_found=True, t=1 / 30)
    assert out.head_yaw[0] == pytest.approx(5.0 + 0.25 * (-25.0))
    with pytest.raises(ValueError, match="unknown face region 'nose'"):
        mix.set_weight("nose", 1.0)
    with pytest.raises(ValueError, match="mouth=1.5"):
        HybridMixer({"mouth": 1.5})


def test_lips_switch_to_video_when_the_audio_is_silent_and_back_without_a_jump():
    mix = HybridMixer(switch_s=0.15)
    jaws, shares = [], []
    for k in range(60):
        talking = k < 10 or k >= 40  # silence from frame 10 to 39 while the camera mouth is open
        out = mix.mix(AUDIO, VIDEO, speaking=float(talking), video_found=True, t=k / 30)
        jaws.append(out.jaw_open[0])
        shares.append(mix.mouth_share)
    assert shares[9] == 0.0 and shares[30] == 1.0 and shares[59] == 0.0
    assert jaws[30] == pytest.approx(0.3) and jaws[59] == pytest.approx(0.6)
    assert np.abs(np.diff(jaws)).max() <= 0.3 / (0.15 * 30) + 1e-6  # crossfaded over switch_s


def test_lips_fall_back_to_audio_when_the_face_is_lost():
    mix = HybridMixer({"mouth": 1.0}, switch_s=0.1)
    for k in range(10):
        out = mix.mix(AUDIO, VIDEO, speaking=1.0, video_found=True, t=k / 30)
    assert out.jaw_open[0] == pytest.approx(0.3)
    for k in range(10, 20):
        out = mix.mix(AUDIO, VIDEO, speaking=1.0, video_found=False, t=k / 30)
    assert out.jaw_open[0] == pytest.approx(0.6)
    assert not HybridMixer({"mouth": 1.0}, fallback=False)._mouth_target(1.0, VIDEO, 1.0, False) < 1.0


@pytest.mark.slow
def test_expression_from_a_reference_video_and_image():
    n = 24
    ramp = np.r_[np.zeros(n // 2), np.full(n // 2, 1.0)]
    known = FaceParams.from_fields(
        smile_left=0.8 * ramp, smile_right=0.8 * ramp, brow_up_left=0.7 * ramp, brow_up_right=0.7 * ramp
    )
    video = render_sequence(portrait_image("astronaut"), known, 320)
    expr = reference_expression(list(video))
    assert expr["smile_left"] > 0.4 and expr["smile_right"] > 0.4
    assert expr["brow_up_left"] > 0.35 and expr["brow_up_right"] > 0.35
    assert expr["jaw_open"] < 0.15 and expr["mouth_frown"] < 0.1 and expr["brow_down"] < 0.1
    image = reference_expression([video[-1]], neutral=[video[0]])
    assert image["smile_left"] > 0.4 and image["brow_up_right"] > 0.35
    with pytest.raises(ValueError, match="needs a neutral image"):
        reference_expression([video[-1]])
    offsets = emotion_offsets(expr, 5, intensity=0.5, regions={"brows": 0.0})
    assert offsets["brow_up_left"].tolist() == [0.0] * 5
    assert offsets["smile_left"][0] == pytest.approx(0.5 * expr["smile_left"])
    # the offsets feed compose(): smiles add to the idle base
    base = FaceParams.neutral(5)
    lips = _silent_lips(5)
    assert compose(lips, base, offsets).smile_left[0] == pytest.approx(0.5 * expr["smile_left"], abs=1e-5)


def _silent_lips(n: int):
    from pyavatar.packets import LipChunk

    z = np.zeros(n, np.float32)
    return LipChunk(0, 30.0, np.zeros((n, 5), np.float32), z, z, z, z)


@pytest.mark.slow
def test_video_motion_mixes_tracking_audio_and_a_reference(rendered):
    from pyavatar.tracking.source import VideoMotion
    from tests.tracking.conftest import FPS, LEAD

    known, video = rendered("astronaut")
    motion = VideoMotion(hybrid=HybridMixer(), expression={"smile_left": 0.4, "brow_down": 0.5}, intensity=0.5)
    motion.tracker.calibrate_frames(video[:LEAD])
    audio = FaceParams.from_fields(jaw_open=0.7, happy=0.3)
    outs = [motion.process(f, i / FPS, audio=audio, speaking=1.0) for i, f in enumerate(video[: LEAD + 20])]
    motion.close()
    last = outs[-1]
    assert last.jaw_open[0] == pytest.approx(0.7) and last.happy[0] == pytest.approx(0.3)  # mouth from audio
    assert last.head_yaw[0] == pytest.approx(motion.last.params.head_yaw[0])  # head from video
    assert abs(last.head_yaw[0] - known.head_yaw[LEAD + 19]) < 4.0
    assert last.brow_down[0] >= 0.25  # reference offset × intensity
    assert "weight.mouth" in motion.controls and motion.latency_s == 0.0
    motion.set_control("expression.brows", 0.0)
    with pytest.raises(ValueError, match="unknown video-motion control 'weight.nose'"):
        motion.set_control("weight.nose", 1.0)
    with pytest.raises(ValueError, match="needs the audio motion"):
        VideoMotion(hybrid=HybridMixer(), tracker=motion.tracker).process(video[0], 10.0)
