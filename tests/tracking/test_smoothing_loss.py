"""One-Euro smoothing, tracking-loss handling and neutral calibration on rendered frames."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.face.params import FaceParams
from pyavatar.tracking import FaceTracker, OneEuroFilter, OneEuroSettings, TrackerSettings
from pyavatar.tracking.loss import LossHandler
from tests.tracking.conftest import FPS, LEAD


def test_one_euro_smooths_jitter_and_follows_fast_moves():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(np.array([1.0]), OneEuroSettings(min_cutoff=1.0, beta=5.0))
    still = [f(np.array([0.5 + 0.02 * rng.standard_normal()]), t / 30)[0] for t in range(60)]
    assert np.std(still[30:]) < 0.6 * 0.02
    moved = [f(np.array([1.0]), (60 + t) / 30)[0] for t in range(4)]
    assert moved[-1] > 0.9  # a 0.5 jump is followed within ~4 frames
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroSettings(min_cutoff=0)


def test_loss_holds_then_eases_to_idle_and_back_without_jumps():
    h = LossHandler(hold_s=0.5, ease_s=1.0, reacquire_s=0.25)
    idle, face = np.zeros(2), np.array([10.0, 1.0])
    out = [h.update(face, idle, t / 30) for t in range(30)]
    out += [h.update(None, idle, t / 30) for t in range(30, 120)]
    out += [h.update(face, idle, t / 30) for t in range(120, 150)]
    out = np.array(out)
    assert np.allclose(out[30:45], face)  # held for 0.5 s
    assert np.allclose(out[80:120], idle)  # back at idle 1.5 s after the loss
    assert np.allclose(out[-1], face)
    steps = np.abs(np.diff(out[:, 0]))
    assert steps.max() < 10.0 * (1.5 / 30 / 0.25) + 1e-6  # eased: at most the smoothstep's steepest slope


@pytest.mark.slow
def test_tracker_calibrates_on_the_first_second_and_handles_a_lost_face(rendered):
    known, video = rendered("astronaut")
    blank = np.full_like(video[0], 128)
    frames = [video[0]] * 36 + list(video[LEAD:40]) + [blank] * 60
    settings = TrackerSettings(calibrate_s=1.0)
    with FaceTracker(settings) as tracker:
        out = [tracker.process(f, i / FPS) for i, f in enumerate(frames)]
    assert not out[0].calibrated and out[35].calibrated
    assert all(np.abs(o.params.values).max() == 0 for o in out[:30])  # idle until calibrated
    assert max(abs(o.params.head_yaw[0]) for o in out[31:36]) < 1.5  # the neutral face reads as neutral
    tracked = FaceParams.concat([o.params for o in out])
    lost = 36 + 32
    assert not out[lost].found and out[lost - 1].found
    yaw = tracked.head_yaw
    assert np.allclose(yaw[lost : lost + 14], yaw[lost - 1], atol=1e-4)  # held
    assert abs(yaw[-1]) < 1e-3  # eased back to idle
    assert np.abs(np.diff(yaw[lost:])).max() < 2.5  # never a jump
