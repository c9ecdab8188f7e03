"""Motion interpolation up to the output rate."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.packets import MotionFrame
from pyavatar.runtime.interpolate import MotionUpsampler


def _m(k: int, fps: float, value: float) -> MotionFrame:
    return MotionFrame(
        k,
        round(k * 1e9 / fps),
        fps,
        round((k + 0.5) * 1e9 / fps),
        np.array([value], np.float32),
        np.full(5, value, np.float32),
    )


def test_identity_when_rates_match() -> None:
    up = MotionUpsampler(30, 30)
    f = _m(3, 30, 0.5)
    assert up.process(f) == [f]


def test_doubling_interpolates_between_centres() -> None:
    up = MotionUpsampler(30, 60)
    out = []
    for k in range(4):
        out += up.process(_m(k, 30, float(k)))
    out += up.flush()
    assert [f.index for f in out] == list(range(8))
    values = [float(f.params[0]) for f in out]
    # output centres at (j + .5)/60, input centres at (k + .5)/30: before the first centre the first frame holds
    assert values == pytest.approx([0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0])
    assert all(f.fps == 60 for f in out)
    assert [f.pts_ns for f in out] == [round(j * 1e9 / 60) for j in range(8)]
    caps = [f.capture_ns for f in out]
    assert caps[3] == pytest.approx((3.5 / 60) * 1e9, abs=1)


def test_gap_restarts_interpolation_on_the_new_grid() -> None:
    up = MotionUpsampler(25, 50)
    first = up.process(_m(0, 25, 1.0)) + up.process(_m(1, 25, 1.0))
    after = up.process(_m(10, 25, 5.0))
    assert [f.index for f in first] == [0, 1, 2]
    assert after[0].index == 20 and float(after[0].params[0]) == 5.0


def test_rejects_downsampling() -> None:
    with pytest.raises(ValueError, match="below the motion rate"):
        MotionUpsampler(60, 30)


def test_keypoint_motion_is_interpolated_with_the_parameters() -> None:
    from dataclasses import replace

    up = MotionUpsampler(25, 50)
    ref = np.zeros(70, np.float32)
    frames = [
        replace(_m(k, 25, float(k)), keypoints=np.full(70, float(k), np.float32), keypoints_ref=ref) for k in range(3)
    ]
    out = [f for fr in frames for f in up.process(fr)] + up.flush()
    for f in out:
        assert f.keypoints is not None and np.allclose(f.keypoints, f.params[0])  # keypoints follow the same weights
