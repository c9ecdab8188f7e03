"""MediaPipe's 478-point face mesh in video (streaming) mode, and the landmark groups the tracker reads.

Index lists use MediaPipe's numbering; "right"/"left" in MediaPipe's names are
the subject's own sides, but the tracker decides sides by image position so
that a mirrored camera only needs :attr:`TrackerSettings.mirror`.
"""

from __future__ import annotations

import numpy as np

from pyavatar.face.quiet import native_stderr_quiet

NUM_POINTS = 478
# Points that move with the skull and barely with expressions: nose bridge and tip, eye corners,
# cheekbones, temples and cheek edges (not the nose bottom or the lower cheeks: the lips and jaw pull them).
RIGID = (
    1,
    4,
    5,
    6,
    168,
    197,
    195,
    33,
    133,
    362,
    263,
    116,
    345,
    123,
    352,
    234,
    454,
    127,
    356,
    143,
    372,
    111,
    340,
    217,
    437,
)
# RIGID points on the face's side contour, each with its two neighbours along the face oval: the image
# places them only across the contour (pyavatar.tracking.pose.fit_pose's ``slide``).
CONTOUR = {234: (93, 127), 454: (323, 356), 127: (234, 162), 356: (454, 389)}
# Eye openings, outer corner first (MediaPipe's subject-right eye, then subject-left eye).
EYE_A_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_A_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_B_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
EYE_B_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
IRIS_A = (468, 469, 470, 471, 472)  # centre first
IRIS_B = (473, 474, 475, 476, 477)
BROW_A = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
BROW_B = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
MOUTH_CORNERS = (61, 291)
INNER_UPPER_MID, INNER_LOWER_MID = 13, 14
OUTER_UPPER_MID, OUTER_LOWER_MID = 0, 17
INNER_UPPER = (80, 81, 82, 13, 312, 311, 310)
INNER_LOWER = (88, 178, 87, 14, 317, 402, 318)
CHIN = 152
FOREHEAD = 10
CHEEKS = (50, 280)  # cheek surface under each eye (A side, B side)


class FaceMesh:
    """MediaPipe face mesh with attention (iris) refinement, tracking across frames.

    Args:
        min_detection: confidence needed to (re)detect a face.
        min_tracking: confidence below which the mesh is re-detected (the face counts as lost).
        static: treat every frame as a still image (no tracking between frames).
    """

    def __init__(self, min_detection: float = 0.5, min_tracking: float = 0.5, static: bool = False) -> None:
        try:
            from mediapipe.python.solutions import face_mesh
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("face tracking needs `pip install mediapipe==0.10.21`") from exc
        with native_stderr_quiet():
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=static,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_detection,
                min_tracking_confidence=min_tracking,
            )
        self._warm = False  # the graph logs its set-up on the first frame: keep that quiet too

    def process(self, rgb: np.ndarray) -> np.ndarray | None:
        """(478, 3) float64 points (x, y in pixels, depth in pixels, larger = farther) or None when no face."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"FaceMesh.process: expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
        if self._warm:
            result = self._mesh.process(np.ascontiguousarray(rgb))
        else:
            with native_stderr_quiet():
                result = self._mesh.process(np.ascontiguousarray(rgb))
            self._warm = True
        if not result.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        lm = result.multi_face_landmarks[0].landmark
        return np.array([(p.x * w, p.y * h, p.z * w) for p in lm], dtype=np.float64)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
