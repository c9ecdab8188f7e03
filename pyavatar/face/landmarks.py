"""Face detection and landmarks behind a small interface (default backend: MediaPipe's bundled models).

A backend takes an RGB uint8 image and returns :class:`FaceLandmarks` for every
face, largest first, in pixel coordinates of that image. The MediaPipe backend
uses the models shipped inside the ``mediapipe`` wheel (no download): the
full-range face detector finds faces of any size, then the attention face mesh
(478 points, iris included) runs on a square region around each face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from pyavatar.face.quiet import native_stderr_quiet

MEDIAPIPE_478 = "mediapipe478"
# Points of the MediaPipe mesh used for alignment: iris centres and mouth (corners and inner-lip midpoints).
MP_LEFT_IRIS, MP_RIGHT_IRIS = 468, 473
MP_MOUTH = (61, 291, 13, 14)


@dataclass(frozen=True)
class FaceLandmarks:
    """One detected face.

    Attributes:
        box: (x, y, w, h) detection box in pixels.
        points: (N, 2) float landmark coordinates (x, y) in pixels.
        score: detection confidence in [0, 1].
        scheme: landmark numbering (e.g. ``"mediapipe478"``).
    """

    box: tuple[float, float, float, float]
    points: NDArray[Any]
    score: float
    scheme: str

    @property
    def area(self) -> float:
        """Box area in pixels²."""
        return self.box[2] * self.box[3]

    def eye_centers(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """Centres of the two eyes (image-left first)."""
        if self.scheme != MEDIAPIPE_478:
            raise ValueError(f"eye_centers: unknown landmark scheme {self.scheme!r}")
        a, b = self.points[MP_LEFT_IRIS], self.points[MP_RIGHT_IRIS]
        return (a, b) if a[0] <= b[0] else (b, a)

    def mouth_center(self) -> NDArray[Any]:
        """Centre of the mouth."""
        if self.scheme != MEDIAPIPE_478:
            raise ValueError(f"mouth_center: unknown landmark scheme {self.scheme!r}")
        center: NDArray[Any] = self.points[list(MP_MOUTH)].mean(axis=0)
        return center


@runtime_checkable
class LandmarkBackend(Protocol):
    """What portrait preparation needs from a face/landmark detector."""

    name: str

    def detect(self, image: NDArray[Any]) -> list[FaceLandmarks]:
        """Faces in an RGB uint8 (H, W, 3) image, largest first (empty list when none)."""


class MediaPipeLandmarks:
    """Full-range face detection + 478-point face mesh from the models bundled in ``mediapipe``.

    Args:
        min_confidence: detection threshold.
        max_faces: at most this many faces are returned.
        margin: side of the square region given to the mesh, as a multiple of the detection box.
    """

    name = "mediapipe"

    def __init__(self, min_confidence: float = 0.5, max_faces: int = 8, margin: float = 2.0) -> None:
        try:
            from mediapipe.python.solutions import face_detection, face_mesh
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the MediaPipe landmark backend needs `pip install mediapipe==0.10.21` "
                "(or pass crop=(x, y, w, h) / another LandmarkBackend)"
            ) from exc
        self.max_faces = max_faces
        self.margin = margin
        self._warm = False  # the graphs log their set-up on the first inference: keep that quiet too
        with native_stderr_quiet():
            self._detector = face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_confidence,
            )

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self._detector.close()
        self._mesh.close()

    def __enter__(self) -> MediaPipeLandmarks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mesh_points(self, image: NDArray[Any]) -> NDArray[Any] | None:
        result = self._mesh.process(np.ascontiguousarray(image))
        if not result.multi_face_landmarks:
            return None
        h, w = image.shape[:2]
        lm = result.multi_face_landmarks[0].landmark
        return np.array([(p.x * w, p.y * h) for p in lm], dtype=np.float64)

    def detect(self, image: NDArray[Any]) -> list[FaceLandmarks]:
        """The faces in an RGB uint8 ``image`` (H, W, 3), largest first; empty when none is found."""
        if not self._warm:
            with native_stderr_quiet():
                faces = self._detect(image)
            self._warm = True
            return faces
        return self._detect(image)

    def _detect(self, image: NDArray[Any]) -> list[FaceLandmarks]:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"MediaPipeLandmarks.detect: expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}"
            )
        h, w = image.shape[:2]
        result = self._detector.process(np.ascontiguousarray(image))
        faces = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            box = (rb.xmin * w, rb.ymin * h, rb.width * w, rb.height * h)
            side = max(box[2], box[3]) * self.margin
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            x0, y0 = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
            x1, y1 = int(min(w, round(cx + side / 2))), int(min(h, round(cy + side / 2)))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            points = self._mesh_points(image[y0:y1, x0:x1])
            if points is None:
                continue
            faces.append(FaceLandmarks(box, points + np.array([x0, y0]), float(det.score[0]), MEDIAPIPE_478))
        if not faces:  # the detector missed a face that fills the frame: let the mesh find it directly
            points = self._mesh_points(image)
            if points is not None:
                lo, hi = points.min(axis=0), points.max(axis=0)
                faces.append(FaceLandmarks((lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]), points, 1.0, MEDIAPIPE_478))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[: self.max_faces]
