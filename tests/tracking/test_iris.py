"""The pixel iris reading: a neutral band of the user's own eye, found again along the eye."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pyavatar.tracking import mesh as m
from pyavatar.tracking.iris import IrisSettings, IrisTemplate

SIZE = 200
CORNERS = (m.EYE_A_UPPER[0], m.EYE_A_UPPER[-1])
SKIN, WHITE, IRIS = (200, 150, 130), (235, 230, 225), (60, 40, 30)


def _eye(shift_px: float, *, shut: bool = False, angle: float = 0.0, scale: float = 1.0):
    """An RGB frame of one drawn eye (iris ``shift_px`` toward the second corner) and its mesh points."""
    c, half_w, radius = np.array([100.0, 100.0]), 40.0, 12.0
    skin = np.random.default_rng(7).normal(0.0, 12.0, (SIZE, SIZE, 1))  # the same skin texture every frame
    img = np.clip(np.array(SKIN, np.float64) + cv2.GaussianBlur(skin, (0, 0), 1.5)[..., None], 0, 255).astype(np.uint8)
    cv2.ellipse(img, (100, 88), (46, 20), 0, 200, 340, (120, 80, 70), 2, cv2.LINE_AA)  # the lid crease
    cv2.ellipse(img, (96, 112), (38, 10), 0, 20, 160, (150, 100, 90), 2, cv2.LINE_AA)  # a line under the eye
    if not shut:
        cv2.ellipse(img, (100, 100), (40, 16), 0, 0, 360, WHITE, -1, cv2.LINE_AA)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.ellipse(mask, (100, 100), (40, 16), 0, 0, 360, 255, -1)
        disk = img.copy()
        cv2.circle(disk, (int(round((100 + shift_px) * 16)), 100 * 16), int(radius * 16), IRIS, -1, cv2.LINE_AA, 4)
        img = np.where(mask[..., None] > 0, disk, img)
        cv2.circle(img, (int(round(100 + shift_px - 3)), 96), 2, (255, 255, 255), -1)  # a catchlight
    points = np.zeros((m.NUM_POINTS, 3))
    points[CORNERS[0], :2] = c - (half_w, 0)
    points[CORNERS[1], :2] = c + (half_w, 0)
    points[m.IRIS_A[0], :2] = c + (shift_px, 0)
    for k, a in enumerate(np.linspace(0, 2 * np.pi, 4, endpoint=False)):
        points[m.IRIS_A[1 + k], :2] = c + (shift_px, 0) + radius * np.array([np.cos(a), np.sin(a)])
    if angle or scale != 1.0:  # the whole face turned in the image plane and nearer the camera
        rot = cv2.getRotationMatrix2D((100.0, 100.0), angle, scale)
        img = cv2.warpAffine(img, rot, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)
        points[:, :2] = points[:, :2] @ rot[:, :2].T + rot[:, 2]
    return img, points


def _template(settings: IrisSettings | None = None) -> IrisTemplate:
    frame, points = _eye(0.0)
    return IrisTemplate.from_frames([frame], [points], CORNERS, m.IRIS_A, settings)


@pytest.mark.parametrize("shift_px", [-14.0, -6.0, 0.0, 5.0, 13.0])
def test_the_iris_is_found_where_it_moved_in_eye_widths(shift_px: float):
    template = _template()
    frame, points = _eye(shift_px)
    points[m.IRIS_A[0], :2] = (100.0, 100.0)  # the landmark model's iris is not read: only the corners place it
    shift, score = template.locate(frame, points)
    assert shift == pytest.approx(shift_px / 80.0, abs=0.01)
    assert score > 0.9


def test_corner_landmark_jitter_cancels_through_the_socket():
    frame, points = _eye(8.0)
    points[list(CORNERS), 0] += 3.0  # the landmark model places both corners 3 px off: the pixels did not move
    shift, _ = _template().locate(frame, points)
    assert shift == pytest.approx(8.0 / 80.0, abs=0.01)
    corners_only, _ = _template(IrisSettings(min_score=1.0)).locate(frame, points)  # no socket match is trusted
    assert corners_only == pytest.approx((8.0 - 3.0) / 80.0, abs=0.01)


def test_face_size_and_in_plane_rotation_drop_out():
    template = _template()
    frame, points = _eye(10.0, angle=25.0, scale=1.4)
    shift, score = template.locate(frame, points)
    assert shift == pytest.approx(10.0 / 80.0, abs=0.015)
    assert score > 0.8


def test_a_shut_eye_scores_low_and_reads_closed_only_with_the_mesh():
    settings = IrisSettings()
    template = _template(settings)
    assert template.reference == pytest.approx(1.0, abs=0.02)  # the calibration frame matches itself
    _, score_open = template.locate(*_eye(4.0))
    _, score_shut = template.locate(*_eye(0.0, shut=True))
    assert settings.closure(score_open, template.reference) == 0.0
    assert settings.closure(score_shut, template.reference) == 1.0
    # the mesh alone decides an open eye: a poor match with an open-reading mesh is never a blink
    assert settings.blink(0.0, score_shut, template.reference) == 0.0
    # once the mesh sees the lid closing, the pixels complete it; half as much evidence, half the help
    assert settings.blink(settings.confirm, score_shut, template.reference) == 1.0
    assert settings.blink(settings.confirm / 2, score_shut, template.reference) == pytest.approx(0.5)
    assert settings.blink(0.7, score_open, template.reference) == 0.7


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"half_width": 0.0}, "half_width"),
        ({"min_score": 1.5}, "min_score"),
        ({"open_loss": 0.6, "shut_loss": 0.5}, "open_loss < shut_loss"),
        ({"confirm": 0.0}, "confirm"),
        ({"socket_inner": 0.2}, "half_height < socket_inner < socket_outer"),
        ({"socket_outer": 1.0}, "half_height < socket_inner < socket_outer"),
        ({"socket_width": 1.5}, "socket_width"),
    ],
)
def test_settings_are_checked(kwargs: dict, needle: str):
    with pytest.raises(ValueError, match=needle):
        IrisSettings(**kwargs)


def test_the_template_needs_one_mesh_per_frame():
    frame, points = _eye(0.0)
    with pytest.raises(ValueError, match="one mesh per frame"):
        IrisTemplate.from_frames([frame, frame], [points], CORNERS, m.IRIS_A)


def test_coinciding_corners_match_nothing_instead_of_failing():
    frame, points = _eye(0.0)
    points[list(CORNERS)] = points[CORNERS[0]]
    shift, score = _template().locate(frame, points)
    assert score == -1.0 and np.isfinite(shift)  # a shift nobody uses: min_score rejects the match
