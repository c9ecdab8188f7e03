"""Head pose: a similarity fit of the skull's points to the neutral mesh, refined on their image positions.

MediaPipe's per-frame depth is a prediction that leans toward a frontal face,
so a plain 3-D fit under-reads turns (by about a fifth on our round trip).
The pose is therefore refined by Gauss–Newton so that the *neutral* 3-D points,
rotated, scaled and shifted, land on the observed 2-D points (scaled
orthographic projection); the 3-D fit only starts it.

Angles follow FaceParams and the classical renderer: in the face frame (u from
the image-left eye to the image-right eye, v down the face, depth away from
the camera) the rotation is ``Ry(yaw) · Rx(pitch) · Rz(roll)`` with yaw
bringing the nose toward +u (the avatar's left), pitch toward +v (nodding
down) and roll lowering the avatar's right side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    """``x ≈ scale · rotation @ (x0 - center0) + center``: the current mesh from the neutral one."""

    rotation: np.ndarray  # (3, 3)
    scale: float
    center0: np.ndarray  # (3,) neutral centroid
    center: np.ndarray  # (3,) current centroid
    residual: float  # RMS fit error, in units of the neutral point spread

    def to_neutral(self, points: np.ndarray) -> np.ndarray:
        """Current points mapped back into the neutral mesh's pose (head motion removed)."""
        return (points - self.center) @ self.rotation / self.scale + self.center0

    def project(self, neutral_points: np.ndarray) -> np.ndarray:
        """(N, 2) image positions of neutral points moved by this pose."""
        return (self.scale * (neutral_points - self.center0) @ self.rotation.T + self.center)[:, :2]


def fit_similarity(neutral: np.ndarray, current: np.ndarray, weights: np.ndarray | None = None) -> Similarity:
    """Weighted Umeyama fit of (N, 3) ``current`` to (N, 3) ``neutral`` points."""
    w = np.ones(len(neutral)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    c0, c1 = w @ neutral, w @ current
    a, b = neutral - c0, current - c1
    cov = (b * w[:, None]).T @ a
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    var0 = float(w @ (a * a).sum(axis=1))
    scale = float((s * np.diag(fix)).sum() / max(var0, 1e-12))
    err = b - scale * a @ rot.T
    residual = math.sqrt(float(w @ (err * err).sum(axis=1)) / max(var0 * scale * scale, 1e-12))
    return Similarity(rot, scale, c0, c1, residual)


def _rotation_vector(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx


def _across(along: np.ndarray) -> np.ndarray:
    """(N, 2, 2) image-plane projectors removing each point's component along ``along`` (N, 3) (zero: identity)."""
    t = along[:, :2]
    norm = np.linalg.norm(t, axis=1, keepdims=True)
    t = np.where(norm > 1e-9, t / np.maximum(norm, 1e-9), 0.0)
    return np.eye(2) - t[:, :, None] * t[:, None, :]


def _project(keep: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Residual rows (2N,) or Jacobian rows (2N, k), interleaved x/y per point, through the (N, 2, 2) projectors."""
    if keep is None:
        return rows
    shaped = rows.reshape(len(keep), 2, -1)
    return np.einsum("nij,njk->nik", keep, shaped).reshape(rows.shape)


def fit_pose(
    neutral: np.ndarray, current: np.ndarray, iterations: int = 6, *, slide: np.ndarray | None = None
) -> Similarity:
    """Pose of (N, 3) ``current`` points relative to ``neutral`` (see the module docstring).

    Gauss–Newton over (rotation update, log scale, 2-D shift), re-linearised
    about the current rotation each step. The residual is the RMS 2-D misfit in
    units of the neutral point spread.

    ``slide``: (N, 3) unit directions in the neutral frame along which a point's
    image position is not observed (zero rows: seen in both image axes). A point
    on the face's side contour is placed only across the contour: nothing in the
    image pins where along the silhouette it lies, and MediaPipe slides such
    points with the face's overall shape (an opening jaw pulls them down). Their
    misfit along the rotated direction is left out of the fit.
    """
    start = fit_similarity(neutral, current)
    a = neutral - start.center0
    spread = math.sqrt(float((a * a).sum(axis=1).mean()))
    x = current[:, :2]
    rot, scale, shift = start.rotation, start.scale, start.center[:2].copy()
    n = len(a)
    jac = np.zeros((2 * n, 6))
    jac[0::2, 4] = jac[1::2, 5] = 1.0
    for _ in range(iterations):
        q = scale * a @ rot.T  # (N, 3) moved points before the shift
        r = (q[:, :2] + shift - x).ravel()
        # d(x, y)/d(rotation vector) of exp([w]x) q at w = 0, then d/d(log scale)
        jac[0::2, 1], jac[0::2, 2] = q[:, 2], -q[:, 1]
        jac[1::2, 0], jac[1::2, 2] = -q[:, 2], q[:, 0]
        jac[0::2, 0] = jac[1::2, 1] = 0.0
        jac[0::2, 3], jac[1::2, 3] = q[:, 0], q[:, 1]
        keep = None if slide is None else _across(slide @ rot.T)
        step = np.linalg.lstsq(_project(keep, jac), -_project(keep, r), rcond=None)[0]
        rot = _rotation_vector(step[:3]) @ rot
        scale *= math.exp(step[3])
        shift = shift + step[4:]
        if np.abs(step).max() < 1e-7:
            break
    r = (scale * a @ rot.T)[:, :2] + shift - x
    if slide is not None:
        r = _project(_across(slide @ rot.T), r.ravel()).reshape(-1, 2)
    err = math.sqrt(float((r * r).sum(axis=1).mean())) / max(spread * scale, 1e-12)
    return Similarity(rot, scale, start.center0, np.array([shift[0], shift[1], start.center[2]]), err)


def face_axes(points: np.ndarray, eye_a: int, eye_b: int, mouth: np.ndarray) -> np.ndarray:
    """(3, 3) columns u, v, depth of the face frame of a neutral mesh (u from the image-left to image-right eye)."""
    a, b = points[eye_a, :2], points[eye_b, :2]
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    u = (right - left) / max(float(np.linalg.norm(right - left)), 1e-9)
    v = np.array([-u[1], u[0]])
    if (mouth[:2] - (a + b) / 2) @ v < 0:
        v = -v
    q = np.eye(3)
    q[:2, 0], q[:2, 1] = u, v
    return q


def euler_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of a face-frame rotation ``Ry(yaw) · Rx(pitch) · Rz(roll)``."""
    pitch = math.asin(max(-1.0, min(1.0, -float(rot[1, 2]))))
    roll = math.atan2(-float(rot[1, 0]), float(rot[1, 1]))
    yaw = math.atan2(-float(rot[0, 2]), float(rot[2, 2]))
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)
