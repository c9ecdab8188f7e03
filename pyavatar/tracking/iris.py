"""Iris position from the image: the user's own neutral eye, found again in each frame.

MediaPipe's iris centre is a prediction from the whole eye region; behind
glasses, with dark eyes or little visible white it moves a fraction of the
real travel and jitters. :class:`IrisTemplate` instead keeps, from the neutral
calibration, the user's own eye sampled in the eye's own frame (the axis
between its corners, in eye widths): a thin band through the iris, and two
strips of the **socket** above and below it (lids, lashes, glasses frames),
which move with the head but not with the gaze. In each frame both are found
again along the same axis by normalised cross-correlation; the iris's shift
less the socket's is the gaze. The corner landmarks only place the search:
their own jitter moves iris and socket alike and cancels. Because everything
is measured in eye widths, face size, distance and in-plane rotation drop out,
and a head turn only foreshortens the eye slightly.
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
        socket_inner, socket_outer: the socket strips span these distances from the iris centre, above and
            below it, in iris radii (past the iris, through the lids and what lies around them).
        socket_width: the socket strips' length along the eye, in eye widths (the corners and a little skin).
        min_score: lowest normalised cross-correlation accepted (a closed or hidden eye scores lower; a
            socket scoring lower is not used, and the corner landmarks alone place the iris).
        open_loss, shut_loss: score lost since the calibration that still reads as an open eye, and that
            reads as a shut one (the lid hides the iris); the loss between them reads as a partial blink.
        confirm: the mesh's blink reading at which the pixels' closure counts in full (below it, in
            proportion; at 0 not at all): the pixels complete a closure the mesh has begun to see, so a
            mismatch on an open eye (a glasses frame, a turned head) never reads as a blink.
    """

    half_width: float = 1.2
    half_height: float = 0.3
    socket_inner: float = 1.2
    socket_outer: float = 2.5
    socket_width: float = 1.2
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
        if not self.half_height < self.socket_inner < self.socket_outer:
            raise ValueError(
                "iris settings: need half_height < socket_inner < socket_outer, got "
                f"{self.half_height}, {self.socket_inner}, {self.socket_outer}"
            )
        if not 0.0 < self.socket_width < SPAN:
            raise ValueError(f"iris settings: socket_width must be within (0, {SPAN}), got {self.socket_width}")
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
    image's down for an upright eye). Only the pixels around the band are read;
    coinciding corners give a flat band.
    """
    a, b = np.asarray(a, np.float64)[:2], np.asarray(b, np.float64)[:2]
    axis = b - a
    width = float(np.linalg.norm(axis))
    if width < 1e-6:  # coinciding corners: a flat band, which matches nothing
        return np.zeros((2 * rows + 1, SAMPLES), np.float32)
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


def _peak(match: np.ndarray) -> tuple[float, float]:
    """(sub-sample position, value) of a 1-D match curve's maximum (a parabola through it and its neighbours)."""
    k = int(np.argmax(match))
    offset = 0.0
    if 0 < k < len(match) - 1:
        curve = match[k - 1] - 2 * match[k] + match[k + 1]
        if curve < 0:
            offset = 0.5 * float(match[k - 1] - match[k + 1]) / float(curve)
    return k + offset, float(match[k])


def _match(band: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` slid along ``band`` (same height), or -1s where flat."""
    if np.ptp(template) < 1e-3 or np.ptp(band) < 1e-3:
        return np.full(band.shape[1] - template.shape[1] + 1, -1.0, np.float32)
    return cv2.matchTemplate(band, template, cv2.TM_CCOEFF_NORMED)[0]


@dataclass(frozen=True)
class IrisTemplate:
    """One eye's neutral iris band and socket strips (see the module docstring).

    Attributes:
        corners: mesh indices of the eye's two corners (the bands run from the first to the second).
        iris: (rows, columns) float32 neutral gray levels around the iris.
        socket: the neutral strips above and below the iris, centred between the corners.
        rows: sampled rows either side of the iris centre line: to the iris band's edge, to the socket
            strips' inner and outer edges.
        across: the iris centre line, in eye widths from the corner axis.
        along: the iris band's centre (the neutral iris, to a sample) along the eye, in eye widths from the
            corners' midpoint.
        reference: the iris match score on the calibration frames themselves (an open eye's score).
        settings: :class:`IrisSettings`.
    """

    corners: tuple[int, int]
    iris: np.ndarray
    socket: tuple[np.ndarray, np.ndarray]
    rows: tuple[int, int, int]
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
        """The median neutral bands of RGB ``frames`` with their (478, 3) ``meshes`` (one per frame)."""
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
        to_rows = lambda radii: max(1, int(round(radii * radius / step)))  # noqa: E731
        rows = (to_rows(s.half_height), to_rows(s.socket_inner), to_rows(s.socket_outer))
        if not rows[0] < rows[1] < rows[2]:
            raise ValueError(f"iris template: the iris is too small in the image ({radius:.3f} eye widths)")
        tall = np.median(np.stack([eye_band(f, p[i], p[j], across, rows[2]) for f, p in zip(frames, meshes)]), 0)
        half = max(2, int(round(s.half_width * radius / step)))
        centre = int(round(along / step + SAMPLES / 2 - 0.5))
        lo, hi = max(0, centre - half), min(SAMPLES, centre + half + 1)
        if hi - lo < 3:
            raise ValueError("iris template: the iris lies outside the sampled eye band")
        cut = ((lo + hi - 1) / 2 + 0.5 - SAMPLES / 2) * step  # the iris band's own centre, in eye widths
        template = cls(
            corners,
            np.ascontiguousarray(_rows(tall, rows, "iris")[:, lo:hi], np.float32),
            tuple(np.ascontiguousarray(_socket_columns(_rows(tall, rows, k), s), np.float32) for k in ("up", "down")),  # type: ignore[arg-type]
            rows,
            across,
            cut,
            1.0,
            s,
        )
        scores = [template.locate(f, p)[1] for f, p in zip(frames, meshes)]
        return dataclasses.replace(template, reference=float(np.median(scores)))

    def locate(self, rgb: np.ndarray, points: np.ndarray) -> tuple[float, float]:
        """(iris shift along the eye since the neutral, in eye widths toward the second corner; iris match score).

        ``rgb``: the frame, RGB uint8; ``points``: its (478, 3) mesh. The shift is the iris's less the socket's
        (when the socket matches at least ``min_score``).
        """
        i, j = self.corners
        step = SPAN / SAMPLES
        tall = eye_band(rgb, points[i], points[j], self.across, self.rows[2])
        at, score = _peak(_match(_rows(tall, self.rows, "iris"), self.iris))
        shift = (at + (self.iris.shape[1] - 1) / 2 + 0.5 - SAMPLES / 2) * step - self.along
        up, down = (_match(_rows(tall, self.rows, k), t) for k, t in zip(("up", "down"), self.socket))
        socket_at, socket_score = _peak((up + down) / 2)
        if socket_score >= self.settings.min_score:
            shift -= (socket_at - (SAMPLES - self.socket[0].shape[1]) / 2) * step
        return shift, score


def _rows(tall: np.ndarray, rows: tuple[int, int, int], part: str) -> np.ndarray:
    """The ``iris`` band, or the socket strip ``up`` or ``down``, of a band sampled ``rows[2]`` rows either side."""
    c = rows[2]
    if part == "iris":
        return tall[c - rows[0] : c + rows[0] + 1]
    return tall[: c - rows[1] + 1] if part == "up" else tall[c + rows[1] :]


def _socket_columns(strip: np.ndarray, s: IrisSettings) -> np.ndarray:
    """The central ``socket_width`` eye widths of a socket strip (the search room is the rest)."""
    half = int(round(s.socket_width / 2 / (SPAN / SAMPLES)))
    return strip[:, SAMPLES // 2 - half : SAMPLES // 2 + half]
