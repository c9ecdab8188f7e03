"""Implicit-keypoint and head-pose math of LivePortrait (pure functions, any batch size).

Conventions: keypoints are (B, K, 3) row vectors (x right, y down, z into the
screen) in the normalised [-1, 1] feature-volume space. Rotations are
row-vector matrices R (B, 3, 3): a rotated keypoint is ``k @ R``, which equals
``M k`` for the column-vector matrix M = Rz(roll)·Ry(yaw)·Rx(pitch), R = Mᵀ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

BIN_DEGREES = 3.0
BIN_OFFSET = 97.5

# Keypoint groups the reference pipeline animates separately (indices into the 21 keypoints).
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
EYE_KEYPOINTS = (11, 13, 15, 16, 18)


def bins_to_degrees(logits: Tensor) -> Tensor:
    """Soft-argmax of pose-bin logits (B, bins) → degrees (B,): E[bin]·3 − 97.5.

    A tensor whose last axis has size 1 already holds degrees and is returned
    squeezed.
    """
    if logits.shape[-1] == 1:
        return logits[..., 0]
    prob = torch.softmax(logits, dim=-1)
    idx = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    return (prob * idx).sum(dim=-1) * BIN_DEGREES - BIN_OFFSET


def rotation_matrix(pitch: Tensor, yaw: Tensor, roll: Tensor) -> Tensor:
    """Row-vector rotation R (B, 3, 3) = (Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ from angles in degrees (B,) or (B, 1)."""
    p, y, r = (a.reshape(-1) / 180 * math.pi for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(p), torch.zeros_like(p)

    def mat(*rows: Tensor) -> Tensor:
        return torch.stack(rows, dim=1).view(-1, 3, 3)

    rx = mat(one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos())
    ry = mat(y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos())
    rz = mat(r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one)
    return (rz @ ry @ rx).transpose(1, 2)


def transform_keypoints(kp: Tensor, rotation: Tensor, exp: Tensor, t: Tensor, scale: Tensor) -> Tensor:
    """X = scale·(kp·R + exp) + (t_x, t_y, 0); t_z is ignored.

    Args:
        kp: (B, K, 3) canonical keypoints.
        rotation: (B, 3, 3) row-vector rotation.
        exp: (B, K, 3) expression offsets.
        t: (B, 3) translation.
        scale: (B, 1) or (B,) scale.

    Returns:
        (B, K, 3) posed keypoints.
    """
    x = (kp @ rotation + exp) * scale.reshape(-1, 1, 1)
    shift = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:3])], dim=1)
    return x + shift.unsqueeze(1)


@dataclass(frozen=True)
class Motion:
    """Pose and expression of one or more frames (batch B); what M predicts and drivers produce.

    Attributes:
        rotation: (B, 3, 3) row-vector rotation.
        exp: (B, K, 3) expression offsets.
        t: (B, 3) translation (t_z unused).
        scale: (B, 1) scale.
    """

    rotation: Tensor
    exp: Tensor
    t: Tensor
    scale: Tensor

    @classmethod
    def from_angles(cls, pitch: Tensor, yaw: Tensor, roll: Tensor, exp: Tensor, t: Tensor, scale: Tensor) -> Motion:
        """Motion from head-pose angles in degrees (B,) or (B, 1)."""
        return cls(rotation_matrix(pitch, yaw, roll), exp, t, scale.reshape(-1, 1))

    @property
    def batch(self) -> int:
        """Number of frames."""
        return self.exp.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Motion:
        """The same motion on ``device`` as ``dtype``."""
        return Motion(*(x.to(device=device, dtype=dtype) for x in (self.rotation, self.exp, self.t, self.scale)))

    def expand(self, batch: int) -> Motion:
        """This motion (batch 1 or ``batch``) repeated to ``batch`` frames (a view, no copy)."""
        return Motion(*(x.expand(batch, *x.shape[1:]) for x in (self.rotation, self.exp, self.t, self.scale)))

    def keypoints(self, canonical: Tensor) -> Tensor:
        """Posed keypoints (B, K, 3) of ``canonical`` (B or 1, K, 3)."""
        canonical = canonical.expand(self.batch, *canonical.shape[1:])
        return transform_keypoints(canonical, self.rotation, self.exp, self.t, self.scale)


def relative_motion(source: Motion, first: Motion, current: Motion, region: str = "all") -> Motion:
    """Transfer the change from driving frame ``first`` to ``current`` onto ``source``.

    Relative change: R = R_cur·R_firstᵀ·R_src; exp = exp_src + (exp_cur − exp_first);
    scale = scale_src·scale_cur/scale_first; t = t_src + (t_cur − t_first); t_z = 0.
    ``region`` selects what changes: ``"all"`` everything, ``"pose"`` rotation and
    translation (source expression), ``"exp"`` expression only, ``"lip"``/``"eyes"``
    only those keypoints' expression (:data:`LIP_KEYPOINTS`, :data:`EYE_KEYPOINTS`).
    """
    if region not in ("all", "pose", "exp", "lip", "eyes"):
        raise ValueError(f"relative_motion: region must be all/pose/exp/lip/eyes, got {region!r}")
    batch = current.batch
    src = source.expand(batch)
    moved_exp = src.exp + (current.exp - first.exp)
    if region in ("all", "exp"):
        exp = moved_exp
    elif region == "pose":
        exp = src.exp
    else:
        keep = torch.zeros(moved_exp.shape[1], dtype=torch.bool, device=moved_exp.device)
        keep[list(LIP_KEYPOINTS if region == "lip" else EYE_KEYPOINTS)] = True
        exp = torch.where(keep.view(1, -1, 1), moved_exp, src.exp)
    posed = region in ("all", "pose")
    rotation = current.rotation @ first.rotation.transpose(1, 2) @ src.rotation if posed else src.rotation
    t = src.t + (current.t - first.t) if posed else src.t
    t = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:3])], dim=1)
    scale = src.scale * (current.scale / first.scale) if region == "all" else src.scale
    return Motion(rotation, exp, t, scale)


# ----------------------------------------------------------------------------- eye / lip openness


@dataclass(frozen=True)
class RatioLandmarks:
    """Landmark indices for the eye and lip openness ratios of one landmark scheme.

    Each ratio is |a − b| / (|c − d| + 1e-6): a vertical opening over a width.
    """

    left_eye: tuple[int, int, int, int]
    right_eye: tuple[int, int, int, int]
    lip: tuple[int, int, int, int]


# LivePortrait's 203-point scheme (what its retargeting MLPs were trained with).
LP203 = RatioLandmarks(left_eye=(6, 18, 0, 12), right_eye=(30, 42, 24, 36), lip=(90, 102, 48, 66))
# MediaPipe's 478-point face mesh: eyelid midpoints over eye corners, inner-lip midpoints over mouth corners.
MEDIAPIPE478 = RatioLandmarks(left_eye=(159, 145, 33, 133), right_eye=(386, 374, 362, 263), lip=(13, 14, 61, 291))


def _ratio(points: np.ndarray | Tensor, idx: tuple[int, int, int, int]) -> np.ndarray | Tensor:
    a, b, c, d = idx
    if isinstance(points, Tensor):
        return (points[..., a, :] - points[..., b, :]).norm(dim=-1) / (
            (points[..., c, :] - points[..., d, :]).norm(dim=-1) + 1e-6
        )
    return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1) / (
        np.linalg.norm(points[..., c, :] - points[..., d, :], axis=-1) + 1e-6
    )


def eye_close_ratio(landmarks: np.ndarray | Tensor, scheme: RatioLandmarks = LP203) -> np.ndarray | Tensor:
    """(…, 2) left and right eye openness from (…, N, 2) landmarks."""
    left, right = _ratio(landmarks, scheme.left_eye), _ratio(landmarks, scheme.right_eye)
    return torch.stack([left, right], dim=-1) if isinstance(left, Tensor) else np.stack([left, right], axis=-1)


def lip_close_ratio(landmarks: np.ndarray | Tensor, scheme: RatioLandmarks = LP203) -> np.ndarray | Tensor:
    """(…, 1) mouth openness from (…, N, 2) landmarks."""
    r = _ratio(landmarks, scheme.lip)
    return r[..., None]
