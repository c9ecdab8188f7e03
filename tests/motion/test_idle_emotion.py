"""Idle motion (blinks, gaze, head, prosody) and emotion presets with region mixing."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.motion.compose import compose
from pyavatar.motion.emotion import EmotionMix, preset
from pyavatar.motion.idle import IdleMotion
from pyavatar.packets import LipChunk


def _blinks(b: np.ndarray, fps: float) -> tuple[int, list[float]]:
    closed = b > 0.5
    on = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    off = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
    durations = [(o - s) / fps for s, o in zip(on, off[off > on[0]] if len(on) else [])]
    return len(on), durations


def test_blink_rate_and_duration() -> None:
    fps = 100.0
    rates, durs = [], []
    for seed in range(3):
        p = IdleMotion(fps, seed=seed).generate(int(fps * 120))
        n, d = _blinks(p.blink_left, fps)
        rates.append(n / 2.0)
        durs += d
        np.testing.assert_array_equal(p.blink_left, p.blink_right)
    assert 12 <= np.mean(rates) <= 20, rates
    # blink is > 0.5 for about half of its 100-200 ms length
    assert 0.04 <= min(durs) and max(durs) <= 0.15


def test_more_blinks_at_phrase_ends() -> None:
    fps, n = 25.0, 25 * 240
    speaking = (np.arange(n) % 50 < 30).astype(float)  # 1.2 s phrases, 0.8 s pauses
    quiet = np.mean([_blinks(IdleMotion(fps, seed=s).generate(n).blink_left, fps)[0] for s in range(3)])
    talky = np.mean(
        [_blinks(IdleMotion(fps, seed=s).generate(n, speaking=speaking).blink_left, fps)[0] for s in range(3)]
    )
    assert talky > quiet * 1.2


def test_seeded_streaming_reproducible_and_bounded() -> None:
    a = IdleMotion(25, seed=7).generate(500)
    m = IdleMotion(25, seed=7)
    from pyavatar.face.params import FaceParams

    b = FaceParams.concat([m.generate(123), m.generate(377)])
    assert a == b
    assert a != IdleMotion(25, seed=8).generate(500)
    assert np.abs(a.gaze_yaw).max() < 10 and np.abs(a.head_yaw).max() < 12
    assert a.head_yaw.std() > 0.3 and a.gaze_yaw.std() > 0.5 and a.head_y.std() > 0.001


def test_prosody_nods_while_speaking() -> None:
    n = 25 * 20
    t = np.arange(n) / 25
    energy = np.where(np.sin(2 * np.pi * 0.7 * t) > 0.6, -15.0, -30.0)
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
    still = IdleMotion(25, seed=3).generate(n, speaking=np.zeros(n), energy_db=energy, f0=f0)
    talk = IdleMotion(25, seed=3).generate(n, speaking=np.ones(n), energy_db=energy, f0=f0)
    assert np.abs(np.diff(talk.head_pitch)).sum() > np.abs(np.diff(still.head_pitch)).sum()
    assert np.corrcoef(talk.head_roll, np.log2(f0))[0, 1] > np.corrcoef(still.head_roll, np.log2(f0))[0, 1]


def test_presets_intensity_and_regions() -> None:
    assert preset("happy", 0.5)["smile_left"] == pytest.approx(0.4)
    assert "brow_down" not in preset("angry", 1.0, "mouth") and "mouth_frown" not in preset("angry", 1.0, "upper")
    with pytest.raises(ValueError, match="bored"):
        preset("bored")
    with pytest.raises(ValueError, match="intensity"):
        preset("sad", 1.5)


def test_smiling_mouth_with_sad_brows() -> None:
    mix = EmotionMix(fps=25, ease=0.2)
    mix.set("happy", 1.0, upper="sad", upper_intensity=1.0)
    out = mix.generate(50)
    assert out["smile_left"][0] < out["smile_left"][-1]  # eased in
    assert out["smile_left"][-1] == pytest.approx(0.8, abs=0.01)
    assert out["mouth_frown"][-1] == 0.0 and out["brow_up_left"][-1] == pytest.approx(0.45, abs=0.01)
    assert out["happy"][-1] == pytest.approx(0.5, abs=0.01) and out["sad"][-1] == pytest.approx(0.5, abs=0.01)
    mix.set("neutral")
    mix.jump()
    assert all(v[-1] == 0 for v in mix.generate(1).values())


def test_compose_combines_lips_idle_emotion() -> None:
    n = 10
    z = np.zeros(n, np.float32)
    lips = LipChunk(0, 25.0, np.zeros((n, 5), np.float32), np.full(n, 0.5, np.float32), z, z, z)
    idle = IdleMotion(25, seed=0).generate(n)
    mix = EmotionMix(25)
    mix.set("surprised", 1.0)
    mix.jump()
    face = compose(lips, idle, mix.generate(n))
    assert face.jaw_open[0] == pytest.approx(0.75) and face.brow_up_left[0] == pytest.approx(0.9)
    np.testing.assert_array_equal(face.head_yaw, idle.head_yaw)
    with pytest.raises(ValueError, match="frames"):
        compose(lips, IdleMotion(25).generate(3))
