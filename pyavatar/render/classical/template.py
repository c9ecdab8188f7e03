"""A face template for faces no detector finds (animals, stylised drawings): fitted to a box or to points.

The template is MediaPipe's own 478-point mesh (with its depth) of a frontal,
flat-colour face drawn here with OpenCV (:func:`drawn_face`), so it needs no
data file and matches the landmark scheme the renderer rigs. :func:`fit_template`
places it in an image: stretched to a face box ``crop = (x, y, w, h)``, or,
with ``face_points = (left eye, right eye, mouth centre)``, by the affine map
that puts its eyes and mouth exactly there; :func:`fit_eyes` then opens its
lids to the eye rims it finds in the image (round animal eyes).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pyavatar.face.landmarks import MEDIAPIPE_478, MP_LEFT_IRIS, MP_MOUTH, MP_RIGHT_IRIS, FaceLandmarks
from pyavatar.face.quiet import native_stderr_quiet
from pyavatar.render.classical import topology as tp

FacePoints = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


def drawn_face(size: int = 512) -> np.ndarray:
    """A flat-colour frontal portrait (hair, face, almond eyes, brows, nose, closed lips), RGB uint8."""
    s = size / 512
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (170, 200, 225)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(x * s), int(y * s)

    skin, shade, hair = (236, 198, 170), (205, 160, 130), (90, 60, 40)
    cv2.ellipse(img, p(256, 560), p(190, 120), 0, 180, 360, (60, 80, 140), -1)  # shoulders
    cv2.rectangle(img, p(215, 330), p(297, 470), shade, -1)  # neck
    cv2.ellipse(img, p(256, 200), p(128, 150), 0, 0, 360, hair, -1)
    cv2.ellipse(img, p(256, 250), p(100, 128), 0, 0, 360, skin, -1)  # face
    cv2.ellipse(img, p(256, 150), p(108, 60), 0, 180, 360, hair, -1)  # fringe
    for cx in (212, 300):
        cv2.ellipse(img, p(cx, 205), p(26, 7), 0, 180, 360, (70, 45, 30), -1)  # brow
        cv2.ellipse(img, p(cx, 238), p(24, 12), 0, 0, 360, (250, 250, 250), -1)  # sclera
        cv2.circle(img, p(cx, 238), int(11 * s), (70, 110, 60), -1)  # iris
        cv2.circle(img, p(cx, 238), int(5 * s), (15, 15, 15), -1)  # pupil
        cv2.circle(img, p(cx + 4, 234), int(2 * s), (255, 255, 255), -1)  # highlight
        cv2.ellipse(img, p(cx, 238), p(25, 13), 0, 180, 360, (40, 25, 20), max(1, int(3 * s)))  # upper lid
    cv2.line(img, p(256, 240), p(248, 290), shade, max(1, int(4 * s)))  # nose
    cv2.ellipse(img, p(256, 295), p(14, 6), 0, 0, 180, shade, max(1, int(3 * s)))
    cv2.ellipse(img, p(256, 328), p(30, 9), 0, 180, 360, (185, 80, 85), -1)  # upper lip
    cv2.ellipse(img, p(256, 328), p(28, 11), 0, 0, 180, (200, 95, 100), -1)  # lower lip
    cv2.line(img, p(227, 328), p(285, 328), (120, 40, 45), max(1, int(2 * s)))
    return cv2.GaussianBlur(img, (0, 0), 1.2 * s)


@lru_cache(maxsize=1)
def face_template() -> tuple[np.ndarray, np.ndarray]:
    """(478, 2) points and (478,) depth of the template face, in pixels of :func:`drawn_face` (512²)."""
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the face template needs `pip install mediapipe==0.10.21` (face mesh)") from exc
    size = 512
    with (
        native_stderr_quiet(),
        face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh,
    ):
        result = mesh.process(drawn_face(size))
    if not result.multi_face_landmarks:  # pragma: no cover - the bundled model finds this drawing
        raise RuntimeError("MediaPipe's face mesh found no face in the template drawing")
    lm = result.multi_face_landmarks[0].landmark
    found = np.array([(q.x, q.y, q.z) for q in lm], np.float64) * size
    return found[:, :2], found[:, 2]


def _anchors(points: np.ndarray) -> np.ndarray:
    """(3, 2) image-left eye, image-right eye and mouth centre of MediaPipe 478 points."""
    a, b = points[MP_LEFT_IRIS], points[MP_RIGHT_IRIS]
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    return np.stack([left, right, points[list(MP_MOUTH)].mean(axis=0)])


def check_face_points(face_points: FacePoints | np.ndarray) -> np.ndarray:
    """``face_points`` as a (3, 2) float array (ValueError naming the problem when they cannot place a face)."""
    pts = np.asarray(face_points, np.float64)
    if pts.shape != (3, 2) or not np.isfinite(pts).all():
        raise ValueError(
            "face_points: expected three finite (x, y) points — left eye, right eye, mouth centre "
            f"(CLI: --face-points LX,LY,RX,RY,MX,MY), got {np.asarray(face_points).tolist()}"
        )
    eye_dist = float(np.linalg.norm(pts[1] - pts[0]))
    mid = (pts[0] + pts[1]) / 2
    along = np.cross(pts[1] - pts[0], pts[2] - mid) / max(eye_dist, 1e-9)
    if eye_dist < 4 or abs(along) < 0.3 * eye_dist:
        raise ValueError(
            f"face_points: the eyes {pts[0].tolist()} and {pts[1].tolist()} must be ≥ 4 px apart and the mouth "
            f"{pts[2].tolist()} clearly below the line between them (at least 0.3 eye distances)"
        )
    return pts


def fit_template(
    crop: tuple[float, float, float, float] | None = None, face_points: FacePoints | np.ndarray | None = None
) -> tuple[FaceLandmarks, np.ndarray]:
    """The template placed in an image: its landmarks and their depth (pixels of that image).

    Args:
        crop: (x, y, w, h) face box; the template's landmarks are stretched to fill it.
        face_points: (left eye, right eye, mouth centre) in image pixels (image-left eye first);
            they pin the template exactly (``crop`` then only sets the detection box).
    """
    points, depth = face_template()
    if face_points is not None:
        dst = check_face_points(face_points)
        dst = dst[[1, 0, 2]] if dst[0, 0] > dst[1, 0] else dst
        matrix = cv2.getAffineTransform(_anchors(points).astype(np.float32), dst.astype(np.float32)).astype(np.float64)
    elif crop is not None:
        x, y, w, h = (float(v) for v in crop)
        lo, hi = points.min(axis=0), points.max(axis=0)
        sx, sy = w / (hi[0] - lo[0]), h / (hi[1] - lo[1])
        matrix = np.array([[sx, 0.0, x - sx * lo[0]], [0.0, sy, y - sy * lo[1]]])
    else:
        raise ValueError("fit_template: give a face box (crop) or face_points")
    fitted = points @ matrix[:, :2].T + matrix[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    lo, hi = fitted.min(axis=0), fitted.max(axis=0)
    box = tuple(float(v) for v in crop) if crop is not None else (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
    return FaceLandmarks(box, fitted, 0.0, MEDIAPIPE_478), depth * scale


EYE_SEARCH = (0.15, 0.36)  # where an eye's rim is looked for, in eye distances from its centre
EYE_MAX_GROWTH = 2.5


def _rim_radius(luma: np.ndarray, center: np.ndarray, eye_dist: float) -> float | None:
    """Median distance from ``center`` to the strongest luma edge along 32 rays (None when off the image)."""
    h, w = luma.shape
    radii = np.linspace(EYE_SEARCH[0], EYE_SEARCH[1], 48) * eye_dist
    found = []
    for a in np.linspace(0, 2 * np.pi, 32, endpoint=False):
        xs, ys = center[0] + radii * np.cos(a), center[1] + radii * np.sin(a)
        if xs.min() < 0 or ys.min() < 0 or xs.max() > w - 1 or ys.max() > h - 1:
            continue
        profile = cv2.remap(luma, xs[None].astype(np.float32), ys[None].astype(np.float32), cv2.INTER_LINEAR)[0]
        found.append(radii[int(np.argmax(np.abs(np.gradient(profile))))])
    return float(np.median(found)) if len(found) >= 16 else None


def fit_eyes(points: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Template ``points`` with each eye opened to the rim found in ``image`` around it (round animal eyes).

    The template's eyes are human almonds; a cat's are round and taller. Around each
    eye the strongest edge (its rim) is found along rays from the iris centre; when
    a lid lies inside the rim, the landmarks on its side of the iris are stretched
    vertically (a smooth local warp, so the mesh does not fold) until it reaches the
    rim. Lids already at or beyond the rim are left as they are.
    """
    pts = np.asarray(points, np.float64).copy()
    luma = cv2.GaussianBlur(
        cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5
    )
    eye_dist = float(np.linalg.norm(pts[tp.RIGHT_IRIS[0]] - pts[tp.LEFT_IRIS[0]]))
    for upper, lower, iris in (
        (tp.RIGHT_EYE_UPPER, tp.RIGHT_EYE_LOWER, tp.RIGHT_IRIS),
        (tp.LEFT_EYE_UPPER, tp.LEFT_EYE_LOWER, tp.LEFT_IRIS),
    ):
        center = pts[iris[0]].copy()
        rim = _rim_radius(luma, center, eye_dist)
        if rim is None:
            continue
        half_width = float(np.linalg.norm(pts[upper[0]] - pts[upper[-1]])) / 2
        reach = 2.0 * half_width  # the warp fades out over this distance from the iris
        fade = np.clip(1 - (np.linalg.norm(pts - center, axis=1) / reach) ** 2, 0, 1) ** 2
        dy = pts[:, 1] - center[1]
        moved = pts[:, 1].copy()
        for lid, sign in ((upper, -1.0), (lower, 1.0)):  # the upper lid (above the iris) and the lower one apart
            reach_lid = float(np.max(sign * dy[list(lid[1:-1])]))
            if reach_lid <= 0 or rim <= 1.15 * reach_lid:
                continue
            grow = min(rim / reach_lid, EYE_MAX_GROWTH) - 1
            side = sign * dy > 0
            moved[side] += grow * dy[side] * fade[side]
        pts[:, 1] = moved
    return pts
