"""Keypoint and pose math against the LivePortrait fixture, plus convention properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from render_helpers import max_abs

from pyavatar.render.liveportrait import keypoints as kpm

ATOL = 1e-5


@pytest.fixture(scope="module")
def io(lp_io):
    return lp_io("keypoint_math")


def test_bins_to_degrees(io) -> None:
    degrees = torch.stack([kpm.bins_to_degrees(io["logits"][:, i]) for i in range(3)], dim=1)
    assert max_abs(degrees, io["degrees"]) <= 1e-4


def test_bins_to_degrees_passes_degrees_through() -> None:
    deg = torch.tensor([[12.5], [-3.0]])
    assert torch.equal(kpm.bins_to_degrees(deg), deg[:, 0])


def test_bins_extremes() -> None:
    logits = torch.full((2, 66), -1e4)
    logits[0, 0] = 0.0
    logits[1, 65] = 0.0
    assert torch.allclose(kpm.bins_to_degrees(logits), torch.tensor([-97.5, 97.5]))


def test_rotation_matrix(io) -> None:
    d = io["degrees"]
    assert max_abs(kpm.rotation_matrix(d[:, 0], d[:, 1], d[:, 2]), io["R"]) <= ATOL


@pytest.mark.parametrize("axis", ["pitch", "yaw", "roll"])
def test_single_axis_convention(io, axis: str) -> None:
    angles = {a: torch.zeros(1) for a in ("pitch", "yaw", "roll")}
    angles[axis] = torch.full((1,), 30.0)
    assert max_abs(kpm.rotation_matrix(**angles), io[f"R_{axis}30"]) <= ATOL


def test_rotation_is_orthonormal_row_vector_convention() -> None:
    gen = torch.Generator().manual_seed(0)
    p, y, r = (torch.rand(5, generator=gen) * 180 - 90 for _ in range(3))
    rot = kpm.rotation_matrix(p, y, r)
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3).expand(5, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(5), atol=1e-6)
    # yaw by +90° maps +x (right) to -z for row vectors k @ R
    yaw90 = kpm.rotation_matrix(torch.zeros(1), torch.full((1,), 90.0), torch.zeros(1))
    assert torch.allclose(torch.tensor([[1.0, 0, 0]]) @ yaw90[0], torch.tensor([[0.0, 0, -1.0]]), atol=1e-6)


def test_transform_keypoints(io) -> None:
    x = kpm.transform_keypoints(io["kp_canonical"], io["R"], io["exp"], io["t"], io["scale"])
    assert max_abs(x, io["x_transformed"]) <= ATOL


def test_transform_from_logits(io) -> None:
    deg = [kpm.bins_to_degrees(io["logits"][:, i]) for i in range(3)]
    m = kpm.Motion.from_angles(*deg, io["exp"], io["t"], io["scale"])
    assert max_abs(m.keypoints(io["kp_canonical"]), io["x_transformed_from_logits"]) <= ATOL


def test_translation_z_is_ignored(io) -> None:
    t = io["t"].clone()
    t[:, 2] += 5.0
    a = kpm.transform_keypoints(io["kp_canonical"], io["R"], io["exp"], io["t"], io["scale"])
    b = kpm.transform_keypoints(io["kp_canonical"], io["R"], io["exp"], t, io["scale"])
    assert torch.equal(a, b)


def _motions(io) -> list[kpm.Motion]:
    return [
        kpm.Motion(io["R"][i : i + 1], io["exp"][i : i + 1], io["t"][i : i + 1], io["scale"][i : i + 1])
        for i in range(3)
    ]


def test_relative_motion(io) -> None:
    src, first, cur = _motions(io)
    rel = kpm.relative_motion(src, first, cur)
    assert max_abs(rel.rotation, io["rel.R_new"]) <= ATOL
    assert max_abs(rel.exp, io["rel.delta_new"]) <= ATOL
    assert max_abs(rel.scale, io["rel.scale_new"]) <= ATOL
    assert max_abs(rel.t, io["rel.t_new"]) <= ATOL
    assert max_abs(rel.keypoints(io["kp_canonical"][:1]), io["rel.x_d"]) <= ATOL


def test_relative_motion_regions(io) -> None:
    src, first, cur = _motions(io)
    pose = kpm.relative_motion(src, first, cur, "pose")
    assert torch.equal(pose.exp, src.exp) and torch.equal(pose.scale, src.scale)
    lip = kpm.relative_motion(src, first, cur, "lip")
    full = kpm.relative_motion(src, first, cur)
    assert torch.equal(lip.rotation, src.rotation)
    idx = list(kpm.LIP_KEYPOINTS)
    others = [i for i in range(21) if i not in idx]
    assert torch.equal(lip.exp[:, idx], full.exp[:, idx]) and torch.equal(lip.exp[:, others], src.exp[:, others])
    with pytest.raises(ValueError, match="region"):
        kpm.relative_motion(src, first, cur, "mouth")


def test_relative_motion_identity_returns_source(io) -> None:
    src, first, _ = _motions(io)
    rel = kpm.relative_motion(src, first, first)
    assert torch.allclose(rel.rotation, src.rotation, atol=1e-6)
    assert torch.allclose(rel.exp, src.exp) and torch.allclose(rel.scale, src.scale)


def test_relative_motion_batches_frames(io) -> None:
    src, first, _ = _motions(io)
    frames = kpm.Motion(io["R"][1:], io["exp"][1:], io["t"][1:], io["scale"][1:])
    rel = kpm.relative_motion(src, first, frames)
    assert rel.batch == 3
    single = kpm.relative_motion(src, first, _motions(io)[2])
    assert max_abs(rel.rotation[1:2], single.rotation) <= 1e-6


def test_eye_lip_ratios() -> None:
    pts = np.zeros((203, 2))
    pts[0], pts[12], pts[6], pts[18] = (0, 0), (10, 0), (5, 2), (5, -2)
    pts[24], pts[36], pts[30], pts[42] = (20, 0), (30, 0), (25, 1), (25, -1)
    pts[48], pts[66], pts[90], pts[102] = (0, 10), (20, 10), (10, 12), (10, 8)
    eye = kpm.eye_close_ratio(pts)
    assert np.allclose(eye, [0.4, 0.2], atol=1e-6)
    assert np.allclose(kpm.lip_close_ratio(pts), [0.2], atol=1e-6)
    t = torch.as_tensor(pts).unsqueeze(0)
    assert torch.allclose(kpm.eye_close_ratio(t), torch.tensor([[0.4, 0.2]], dtype=t.dtype), atol=1e-6)
    assert math.isclose(float(kpm.lip_close_ratio(t)[0, 0]), 0.2, abs_tol=1e-6)
