"""The head-pose fit: a known rotation comes back, and contour points sliding along the silhouette don't tilt it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyavatar.tracking import mesh as m
from pyavatar.tracking.pose import euler_from_rotation, fit_pose
from pyavatar.tracking.tracker import contour_slide


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _head(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) neutral skull-like points (image px, depth away) and (N, 3) unit contour tangents (4 side points)."""
    points = np.column_stack([rng.uniform(-60, 60, 20), rng.uniform(-50, 50, 20), rng.uniform(-45, 10, 20)])
    side = np.array([[-75.0, 0, 43], [75, 0, 43], [-74, -25, 43], [74, -25, 43]])
    tangent = np.array([[0.05, 1, 0], [-0.05, 1, 0], [0.1, 1, 0], [-0.1, 1, 0]])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return np.vstack([points, side]) + [200, 200, 0], np.vstack([np.zeros((20, 3)), tangent])


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(15.0, 0.0, 0.0), (0.0, 12.0, 0.0), (-10.0, -8.0, 6.0)])
def test_fit_pose_recovers_a_known_rotation(yaw: float, pitch: float, roll: float):
    neutral, slide = _head(np.random.default_rng(0))
    center = neutral.mean(axis=0)
    current = 1.1 * (neutral - center) @ _rotation(yaw, pitch, roll).T + center + [7, -4, 0]
    for s in (None, slide):
        got = euler_from_rotation(fit_pose(neutral, current, slide=s).rotation)
        assert got == pytest.approx((yaw, pitch, roll), abs=0.01)


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, 0.0), (12.0, 10.0)])
def test_contour_points_sliding_along_the_silhouette_do_not_tilt_the_pose(yaw: float, pitch: float):
    neutral, slide = _head(np.random.default_rng(1))
    center = neutral.mean(axis=0)
    rot = _rotation(yaw, pitch, 0.0)
    current = (neutral - center) @ rot.T + center
    # MediaPipe moves the side-contour points along the contour with the face's shape (an opening jaw: 4 px down)
    current += 4.0 * slide @ rot.T
    plain = euler_from_rotation(fit_pose(neutral, current).rotation)
    fitted = euler_from_rotation(fit_pose(neutral, current, slide=slide).rotation)
    assert abs(plain[1] - pitch) > 1.0  # the sliding points tilt a plain fit
    assert fitted == pytest.approx((yaw, pitch, 0.0), abs=0.05)


def test_contour_slide_gives_oval_tangents_only_at_the_contour_points():
    rng = np.random.default_rng(2)
    neutral = rng.normal(size=(m.NUM_POINTS, 3)) * 50
    slide = contour_slide(neutral)
    on = np.array([i in m.CONTOUR for i in m.RIGID])
    assert on.sum() == len(m.CONTOUR) == 4
    assert np.allclose(slide[~on], 0.0)
    assert np.allclose(np.linalg.norm(slide[on], axis=1), 1.0)
    k = m.RIGID.index(234)
    a, b = m.CONTOUR[234]
    assert abs(slide[k] @ (neutral[b] - neutral[a])) == pytest.approx(np.linalg.norm(neutral[b] - neutral[a]))
