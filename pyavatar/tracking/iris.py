"""Iris position from the image: the user's own neutral iris, found again along the eye in each frame.

MediaPipe's iris centre is a prediction from the whole eye region; behind
glasses, with dark eyes or little visible white it moves a fraction of the
real travel and jitters. :class:`IrisTemplate` instead keeps a thin band of the
user's own eye from the neutral calibration, centred on the iris and sampled
in the eye's own frame (the axis between its corners, in eye widths), and
finds that band again along the same axis in each frame by normalised
cross-correlation. The eye corners place the search; the pixels place the iris.
Because everything is measured in eye widths between the corners, face size,
distance and in-plane rotation drop out, and a head turn only foreshortens
the band slightly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Samples across the sampled band, which spans :data:`SPAN` eye widths centred between the corners.
SAMPLES = 96
SPAN = 1.5


@dataclass(frozen=True)
class IrisSettings:
    """Shape of the neutral band and when a match is trusted.

    Attributes:
        half_width: half the band's length along the eye, in iris radii (the iris and a little white).
        half_height: half the band's height across the eye, in iris radii (thin: lids, lashes and glasses
            frames above and below do not move with the iris).
        min_score: lowest normalised cross-correlation accepted (a closed or hidden eye scores lower).
        open_loss, shut_loss: score lost since the calibration that still reads as an open eye, and that
            reads as a shut one (the lid hides the iris); the loss between them reads as a partial blink.
        confirm: the mesh's blink reading at which the pixels' closure counts in full (below it, in
            proportion; at 0 not at all): the pixels complete a closure the mesh has begun to see, so a
            mismatch on an open eye (a glasses frame, a turned head) never reads as a blink.
    """

    half_width: float = 1.2
    half_height: float = 0.3
    min_score: float = 0.5
    open_loss: float = 0.25
    shut_loss: float = 0.5
    confirm: float = 0.1

    def closure(self, score: float, reference: float) -> float:
        """0 (open) … 1 (shut): how far a match ``score`` fell below the open eye's ``reference``."""
        loss = reference - score
        return float(min(1.0, max(0.0, (loss - self.open_loss) / (self.shut_loss - self.open_loss))))

    def blink(self, mesh: float, score: float, reference: float) -> float:
        """One eye's blink (0..1) from the mesh's reading and the iris match (see ``confirm``)."""
        return max(mesh, self.closure(score, reference) * min(1.0, max(0.0, mesh) / self.confirm))

    def __post_init__(self) -> None:
        if self.half_width <= 0 or self.half_height <= 0:
            raise ValueError(
                f"iris settings: half_width and half_height must be > 0, got {self.half_width}, {self.half_height}"
            )
        if not -1.0 <= self.min_score <= 1.0:
            raise ValueError(f"iris settings: min_score must be within -1..1, got {self.min_score}")
        if not 0.0 <= self.open_loss < self.shut_loss:
            raise ValueError(f"iris settings: need 0 <= open_loss < shut_loss, got {self.open_loss}, {self.shut_loss}")
        if not 0.0 < self.confirm <= 1.0:
            raise ValueError(f"iris settings: confirm must be within (0, 1], got {self.confirm}")


def eye_band(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, v: float, rows: int) -> np.ndarray:
    """(2·rows + 1, SAMPLES) float32 gray levels along the eye from corner ``a`` to ``b``, ``v`` eye widths across.

    ``rgb``: the frame, RGB uint8. Columns span :data:`SPAN` eye widths centred
    between the corners; rows are spaced like columns (``SPAN / SAMPLES`` eye
    widths) around the line ``v`` eye widths from the corner axis (toward the
    image's down for an upright eye). Only the pixels around the band are read.
    """
    a, b = np.asarray(a, np.float64)[:2], np.asarray(b, np.float64)[:2]
    axis = b - a
    width = float(np.linalg.norm(axis))
    if width < 1e-6:
        raise ValueError("eye band: the eye corners coincide")
    ex = axis / width
    ey = np.array([-ex[1], ex[0]])
    step = SPAN * width / SAMPLES
    us = (np.arange(SAMPLES) + 0.5 - SAMPLES / 2) * step
    vs = v * width + np.arange(-rows, rows + 1) * step
    centre = (a + b) / 2
    mapx = centre[0] + us[None, :] * ex[0] + vs[:, None] * ey[0]
    mapy = centre[1] + us[None, :] * ex[1] + vs[:, None] * ey[1]
    h, w = rgb.shape[:2]
    x0, y0 = (int(np.clip(np.floor(q.min()) - 1, 0, n - 1)) for q, n in ((mapx, w), (mapy, h)))
    x1, y1 = (int(np.clip(np.ceil(q.max()) + 2, x + 1, n)) for q, n, x in ((mapx, w, x0), (mapy, h, y0)))
    crop = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.remap(
        crop,
        (mapx - x0).astype(np.float32),
        (mapy - y0).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _along(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(along, across) position of ``point`` from the corners' midpoint, in eye widths."""
    axis = b[:2] - a[:2]
    width2 = float(axis @ axis)
    d = point[:2] - (a[:2] + b[:2]) / 2
    return float(d @ axis / width2), float(d @ np.array([-axis[1], axis[0]]) / width2)


@dataclass(frozen=True)
class IrisTemplate:
    """One eye's neutral band around the iris (see the module docstring).

    Attributes:
        corners: mesh indices of the eye's two corners (the band runs from the first to the second).
        band: (rows, columns) float32 neutral pixels around the iris.
        across: the band's centre line, in eye widths from the corner axis.
        along: the band's centre (the neutral iris, to a sample) along the eye, in eye widths from the
            corners' midpoint.
        reference: the match score on the calibration frames themselves (an open eye's score).
        settings: :class:`IrisSettings`.
    """

    corners: tuple[int, int]
    band: np.ndarray
    across: float
    along: float
    reference: float
    settings: IrisSettings

    @classmethod
    def from_frames(
        cls,
        frames: Sequence[np.ndarray],
        meshes: Sequence[np.ndarray],
        corners: tuple[int, int],
        iris: Sequence[int],
        settings: IrisSettings | None = None,
    ) -> IrisTemplate:
        """The median neutral band of RGB ``frames`` with their (478, 3) ``meshes`` (one per frame)."""
        s = settings or IrisSettings()
        if not frames or len(frames) != len(meshes):
            raise ValueError(f"iris template: need one mesh per frame, got {len(frames)} frames, {len(meshes)} meshes")
        i, j = corners
        pos = np.array([_along(p[iris[0]], p[i], p[j]) for p in meshes])
        along, across = (float(v) for v in np.median(pos, axis=0))
        radius = float(
            np.median(
                [
                    np.mean(np.linalg.norm(p[list(iris[1:]), :2] - p[iris[0], :2], axis=1))
                    / max(float(np.linalg.norm(p[j, :2] - p[i, :2])), 1e-6)
                    for p in meshes
                ]
            )
        )
        step = SPAN / SAMPLES
        rows = max(1, int(round(s.half_height * radius / step)))
        half = max(2, int(round(s.half_width * radius / step)))
        bands = np.median(np.stack([eye_band(f, p[i], p[j], across, rows) for f, p in zip(frames, meshes)]), 0)
        centre = int(round(along / step + SAMPLES / 2 - 0.5))
        lo, hi = max(0, centre - half), min(SAMPLES, centre + half + 1)
        if hi - lo < 3:
            raise ValueError("iris template: the iris lies outside the sampled eye band")
        cut = ((lo + hi - 1) / 2 + 0.5 - SAMPLES / 2) * step  # the cut band's own centre, in eye widths
        template = cls(corners, np.ascontiguousarray(bands[:, lo:hi], np.float32), across, cut, 1.0, s)
        scores = [template.locate(f, p)[1] for f, p in zip(frames, meshes)]
        return dataclasses.replace(template, reference=float(np.median(scores)))

    def locate(self, rgb: np.ndarray, points: np.ndarray) -> tuple[float, float]:
        """(shift along the eye since the neutral, in eye widths toward the second corner; match score).

        ``rgb``: the frame, RGB uint8; ``points``: its (478, 3) mesh.
        """
        i, j = self.corners
        rows = (self.band.shape[0] - 1) // 2
        band = eye_band(rgb, points[i], points[j], self.across, rows)
        if np.ptp(self.band) < 1e-3 or np.ptp(band) < 1e-3:
            return 0.0, -1.0
        match = cv2.matchTemplate(band, self.band, cv2.TM_CCOEFF_NORMED)[0]
        k = int(np.argmax(match))
        offset = 0.0
        if 0 < k < len(match) - 1:  # parabola through the peak and its neighbours
            curve = match[k - 1] - 2 * match[k] + match[k + 1]
            if curve < 0:
                offset = 0.5 * float(match[k - 1] - match[k + 1]) / float(curve)
        centre = k + offset + (self.band.shape[1] - 1) / 2 + 0.5 - SAMPLES / 2
        return centre * SPAN / SAMPLES - self.along, float(match[k])
