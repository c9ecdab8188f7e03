"""Per-landmark depth for the 478-point face mesh.

MediaPipe's face mesh predicts a relative depth for every landmark (same
scale as x). :func:`landmark_depth` runs it on a square region around the
given landmarks and keeps its depth when its points agree with them; any
other case (no MediaPipe, another landmark source that disagrees) gets an
ellipsoid fitted to the face oval, with the nose in front.
"""

from __future__ import annotations

import cv2
import numpy as np

from pyavatar.face.landmark_cache import cached_array
from pyavatar.face.quiet import native_stderr_quiet
from pyavatar.render.classical import topology as tp
from pyavatar.userdirs import cache_dir

_MESH_INPUT = 384


def _mediapipe_depth(rgb: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = float((hi - lo).max()) * 1.8
    center = (lo + hi) / 2
    scale = _MESH_INPUT / side
    m = np.array([[scale, 0, _MESH_INPUT / 2 - scale * center[0]], [0, scale, _MESH_INPUT / 2 - scale * center[1]]])
    crop = cv2.warpAffine(rgb, m, (_MESH_INPUT, _MESH_INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    with (
        native_stderr_quiet(),
        face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh,
    ):
        result = mesh.process(crop)
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    found = np.array([(p.x, p.y, p.z) for p in lm]) * _MESH_INPUT
    xy = (found[:, :2] - m[:, 2]) / scale
    if np.median(np.linalg.norm(xy - points, axis=1)) > 0.04 * float((hi - lo).max()):
        return None
    return found[:, 2] / scale


def ellipsoid_depth(points: np.ndarray) -> np.ndarray:
    """Depth (px, smaller = nearer) of landmarks on an ellipsoid through the face oval, nose tip forward."""
    oval = points[list(tp.FACE_OVAL)]
    center = oval.mean(axis=0)
    radius = np.abs(oval - center).max(axis=0)
    r = np.clip((((points - center) / radius) ** 2).sum(axis=1), 0, 1)
    depth = -0.6 * radius[0] * np.sqrt(1 - r)
    nose = np.linalg.norm(points - points[tp.NOSE_TIP], axis=1) / radius[0]
    return depth - 0.35 * radius[0] * np.clip(1 - nose / 0.35, 0, 1) ** 2


def landmark_depth(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(478,) depth in pixels of the image for (478, 2) MediaPipe landmarks ``points``."""
    points = np.asarray(points, np.float64)
    folder = cache_dir()
    depth = cached_array(
        None if folder is None else folder / "depth",
        f"mediapipe-0.10.21-mesh-depth|{_MESH_INPUT}",
        (rgb, points),
        lambda: _mediapipe_depth(rgb, points),
    )
    return ellipsoid_depth(points) if depth is None else depth
