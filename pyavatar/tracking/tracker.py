"""FaceTracker: video frames in, FaceParams (plus ARKit-only extras) out, one frame at a time.

Per frame: MediaPipe's face mesh (video mode) → a similarity fit of the
skull's points to the neutral mesh gives the head rotation (yaw, pitch, roll),
translation and scale → the mesh with the head motion removed gives the
expressions (:mod:`pyavatar.tracking.features`) → One-Euro smoothing →
tracking-loss handling (hold, then ease to idle; ease back in).

The neutral face is either given (:meth:`FaceTracker.calibrate`, e.g. from a
``--calibrate-neutral`` image or a few seconds of a relaxed face) or taken
from the first ``calibrate_s`` seconds of tracked frames; until it exists the
tracker outputs the idle values.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pyavatar.face.params import FIELDS, NAMES, FaceParams
from pyavatar.tracking import mesh as m
from pyavatar.tracking.blink import BlinkRange, BlinkRangeSettings
from pyavatar.tracking.features import Gains, Geometry, expression, neutral_geometry
from pyavatar.tracking.filters import OneEuroFilter, OneEuroSettings
from pyavatar.tracking.iris import IrisSettings, IrisTemplate
from pyavatar.tracking.loss import LossHandler
from pyavatar.tracking.pose import euler_from_rotation, fit_pose, fit_similarity

#: ARKit-only values the tracker measures that FaceParams has no field for.
EXTRAS: tuple[str, ...] = ("mouth_press", "mouth_funnel", "cheek_squint_left", "cheek_squint_right")
CHANNELS: tuple[str, ...] = NAMES + EXTRAS
HEAD = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_z")
EYES = ("blink_left", "blink_right", "eye_wide")
GAZE = ("gaze_yaw", "gaze_pitch")
#: The FaceParams fields the tracker measures (the emotion weights stay 0).
TRACKED: tuple[str, ...] = (
    HEAD
    + EYES
    + GAZE
    + (
        "jaw_open",
        "mouth_wide",
        "mouth_round",
        "smile_left",
        "smile_right",
        "mouth_frown",
        "brow_up_left",
        "brow_up_right",
        "brow_down",
    )
)


@dataclass(frozen=True)
class TrackerSettings:
    """Tracker options.

    Attributes:
        calibrate_s: seconds of tracked frames averaged into the neutral face when none is given.
        head_smoothing, eye_smoothing, gaze_smoothing, face_smoothing: One-Euro settings for the head pose,
            the lids (blinks, eye_wide), the gaze and the rest (mouth, brows, extras). Units: 30° for
            angles, 1 for the rest.
        smoothing: False passes the raw values through.
        hold_s, ease_s, reacquire_s: tracking loss: hold the last values, then ease to idle over
            ``ease_s``; a returning face crossfades in over ``reacquire_s``.
        mirror: flip frames left-right first (for a mirrored camera image).
        min_detection, min_tracking: MediaPipe's detection and tracking confidences.
        gains: what counts as a full expression (:class:`~pyavatar.tracking.features.Gains`).
        blink_range: per-eye blink range learned from the user's blinks
            (:class:`~pyavatar.tracking.blink.BlinkRangeSettings`); None keeps ``gains`` alone.
        iris: gaze yaw from the user's own neutral iris found again in the pixels
            (:class:`~pyavatar.tracking.iris.IrisSettings`); None reads MediaPipe's iris landmarks only.
    """

    calibrate_s: float = 1.0
    head_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=1.0, beta=4.0)
    eye_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=5.0, beta=10.0)
    gaze_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=2.0, beta=5.0)
    face_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=2.0, beta=5.0)
    smoothing: bool = True
    hold_s: float = 0.5
    ease_s: float = 1.0
    reacquire_s: float = 0.25
    mirror: bool = False
    min_detection: float = 0.5
    min_tracking: float = 0.5
    gains: Gains = field(default_factory=Gains)
    blink_range: BlinkRangeSettings | None = field(default_factory=BlinkRangeSettings)
    iris: IrisSettings | None = field(default_factory=IrisSettings)

    def __post_init__(self) -> None:
        if self.calibrate_s < 0:
            raise ValueError(f"calibrate_s must be >= 0, got {self.calibrate_s}")
        for name in ("min_detection", "min_tracking"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrackedFrame:
    """One tracker output.

    Attributes:
        t: frame time in seconds.
        params: one frame of FaceParams (idle values when no face is tracked or not yet calibrated).
        extras: ARKit-only values (:data:`EXTRAS`), 0..1.
        found: a face was found in this frame.
        calibrated: a neutral face exists.
        fit_error: RMS error of the rigid head fit (fraction of the face size; NaN without a face).
        points: the (478, 3) mesh in image pixels, or None.
    """

    t: float
    params: FaceParams
    extras: dict[str, float]
    found: bool
    calibrated: bool
    fit_error: float
    points: np.ndarray | None


_INDEX = {n: i for i, n in enumerate(CHANNELS)}
log = logging.getLogger(__name__)
#: Latest calibration frames whose pixels set the neutral irises.
IRIS_FRAMES = 8


def measure(
    geometry: Geometry, points: np.ndarray, gains: Gains, irises: Sequence[float | None] | None = None
) -> tuple[np.ndarray, float]:
    """:data:`CHANNELS` values of one (478, 3) mesh against a neutral ``geometry``, and the head-fit error.

    ``irises``: per-eye iris shifts read from the pixels (see :func:`~pyavatar.tracking.features.expression`).
    Gaze is NaN when both eyes are closed.
    """
    g = geometry
    rigid = list(m.RIGID)
    fit = fit_pose(g.points[rigid], points[rigid], slide=contour_slide(g.points))
    yaw, pitch, roll = euler_from_rotation(g.axes.T @ fit.rotation @ g.axes)
    shift = (fit.center - fit.center0) @ g.axes / g.height
    fields, extras = expression(g, points, fit, gains, irises)
    fields.update(
        head_yaw=yaw, head_pitch=pitch, head_roll=roll, head_x=shift[0], head_y=-shift[1], head_z=fit.scale - 1.0
    )
    values = np.zeros(len(CHANNELS))
    values[[_INDEX["gaze_yaw"], _INDEX["gaze_pitch"]]] = np.nan
    for k, v in {**fields, **extras}.items():
        values[_INDEX[k]] = v
    return values, fit.residual


def contour_slide(neutral: np.ndarray) -> np.ndarray:
    """(len(RIGID), 3) unit tangents of the face oval at :data:`~pyavatar.tracking.mesh.CONTOUR` points, else 0."""
    out = np.zeros((len(m.RIGID), 3))
    for k, i in enumerate(m.RIGID):
        if i in m.CONTOUR:
            a, b = m.CONTOUR[i]
            t = neutral[b] - neutral[a]
            out[k] = t / max(float(np.linalg.norm(t)), 1e-9)
    return out


def _align_to(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    rigid = list(m.RIGID)
    return fit_similarity(reference[rigid], points[rigid]).to_neutral(points)


def neutral_mesh(meshes: Iterable[np.ndarray]) -> np.ndarray:
    """The per-point median of meshes after aligning each to the first (head motion removed)."""
    meshes = [np.asarray(p, np.float64) for p in meshes]
    if not meshes:
        raise ValueError("neutral_mesh: no face meshes to calibrate from")
    return np.median(np.stack([_align_to(meshes[0], p) for p in meshes]), axis=0)


class FaceTracker:
    """Tracks one face through a stream of RGB frames (see the module docstring).

    Args:
        settings: :class:`TrackerSettings`.
        neutral: a (478, 3) neutral mesh (e.g. from :meth:`calibrate`) instead of the first-second calibration.
        mesh: the landmark model (default: MediaPipe's face mesh in video mode).

    A motion-registry adapter wraps :meth:`process`: it has no look-ahead (the
    output of frame ``t`` depends only on frames up to ``t``); the One-Euro
    filter adds a speed-dependent lag of a few frames at most.
    """

    latency_frames = 0

    def __init__(
        self, settings: TrackerSettings | None = None, *, neutral: np.ndarray | None = None, mesh: object = None
    ) -> None:
        self.settings = settings or TrackerSettings()
        s = self.settings
        if mesh is None:
            from pyavatar.tracking.mesh import FaceMesh

            mesh = FaceMesh(s.min_detection, s.min_tracking)
        self.mesh = mesh
        self.geometry: Geometry | None = None if neutral is None else neutral_geometry(np.asarray(neutral, np.float64))
        self._pending: list[np.ndarray] = []
        self._recent: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=IRIS_FRAMES)  # (frame, mesh) to calibrate
        self._irises: tuple[IrisTemplate, ...] | None = None
        self._t_first: float | None = None
        scale = np.array([30.0 if FIELDS.get(n, (0, 1))[1] >= 45 else 1.0 for n in CHANNELS])
        groups = [
            s.head_smoothing
            if n in HEAD
            else s.eye_smoothing
            if n in EYES
            else s.gaze_smoothing
            if n in GAZE
            else s.face_smoothing
            for n in CHANNELS
        ]
        self._filter = OneEuroFilter(scale, groups)
        self._loss = LossHandler(s.hold_s, s.ease_s, s.reacquire_s)
        self._gaze = (0.0, 0.0)  # last seen gaze, held while both eyes are closed
        self._blinks = BlinkRange(s.blink_range) if s.blink_range is not None else None

    @property
    def calibrated(self) -> bool:
        """Whether a neutral face is set."""
        return self.geometry is not None

    def calibrate(self, meshes: Iterable[np.ndarray], frames: Sequence[np.ndarray] = ()) -> None:
        """Set the neutral face from (478, 3) meshes of a relaxed, frontal face (see :func:`neutral_mesh`).

        ``frames``: the last RGB frames of those meshes (oriented as tracked, one per mesh, paired from the
        end), for the neutral irises of :attr:`TrackerSettings.iris`; without them gaze reads the mesh alone.
        """
        meshes = list(meshes)
        self.geometry = neutral_geometry(neutral_mesh(meshes))
        self._irises = None
        iris = self.settings.iris
        if iris is not None and frames:
            paired = meshes[-len(frames) :]
            try:
                self._irises = tuple(
                    IrisTemplate.from_frames(frames, paired, (eye["upper"][0], eye["upper"][-1]), eye["iris"], iris)  # type: ignore[index]
                    for eye in self.geometry.eyes
                )
            except ValueError as e:  # an eye the bands cannot sample: gaze reads the mesh alone
                log.warning("tracker: no pixel iris reading (%s); gaze and blinks read the face mesh alone", e)
        self._pending.clear()
        self._recent.clear()
        if self._blinks is not None:
            self._blinks.reset()

    def calibrate_frames(self, frames: Iterable[np.ndarray]) -> int:
        """Set the neutral face from RGB frames (an image or a short video); returns the frames with a face."""
        found = [(f, p) for f, p in ((f, self.mesh.process(f)) for f in map(self._orient, frames)) if p is not None]
        if not found:
            raise ValueError("neutral calibration: no face found in the given frames")
        self.calibrate([p for _, p in found], [f for f, _ in found[-IRIS_FRAMES:]])
        return len(found)

    def _orient(self, rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rgb[:, ::-1]) if self.settings.mirror else rgb

    def measure(self, points: np.ndarray, rgb: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Unsmoothed :data:`CHANNELS` values of one mesh and the head-fit error (needs a neutral face).

        ``rgb``: the (oriented) frame of the mesh, for the pixel iris reading when neutral irises exist.
        """
        if self.geometry is None:
            raise RuntimeError("FaceTracker.measure: no neutral face yet (calibrate first)")
        irises, found = None, None
        iris = self.settings.iris
        if self._irises is not None and rgb is not None and iris is not None:
            found = [t.locate(rgb, points) for t in self._irises]
            irises = [shift if score >= iris.min_score else None for shift, score in found]
        values, error = measure(self.geometry, points, self.settings.gains, irises)
        if found is not None and iris is not None and self._irises is not None:
            for side, t, (_, score) in zip(("blink_left", "blink_right"), self._irises, found):
                values[_INDEX[side]] = iris.blink(values[_INDEX[side]], score, t.reference)
        if np.isnan(values[_INDEX["gaze_yaw"]]):  # both eyes closed: hold the last gaze
            values[[_INDEX["gaze_yaw"], _INDEX["gaze_pitch"]]] = self._gaze
        self._gaze = (values[_INDEX["gaze_yaw"]], values[_INDEX["gaze_pitch"]])
        return values, error

    def process(self, rgb: np.ndarray, t: float, idle: FaceParams | None = None) -> TrackedFrame:
        """Track one RGB uint8 frame at time ``t`` seconds (increasing); ``idle``: values shown without a face."""
        rgb = self._orient(rgb)
        points = self.mesh.process(rgb)
        s = self.settings
        tracked, error = None, float("nan")
        if points is not None and self.geometry is None:
            self._t_first = t if self._t_first is None else self._t_first
            self._pending.append(points)
            self._recent.append((rgb, points))
            if t - self._t_first >= s.calibrate_s:
                self.calibrate(self._pending, [f for f, _ in self._recent])
        elif points is not None:
            raw, error = self.measure(points, rgb)
            if self._blinks is not None:
                lr = [_INDEX["blink_left"], _INDEX["blink_right"]]
                raw[lr] = self._blinks.update(raw[lr[0]], raw[lr[1]], t)
            if not self._loss.tracking:
                self._filter.reset()
            tracked = self._filter(raw, t) if s.smoothing else raw
        idle_values = np.zeros(len(CHANNELS))
        if idle is not None:
            idle_values[: len(NAMES)] = idle.values[0]
        out = self._loss.update(tracked, idle_values, t)
        params = FaceParams.from_array(out[: len(NAMES)])
        extras = {n: float(np.clip(out[_INDEX[n]], 0.0, 1.0)) for n in EXTRAS}
        return TrackedFrame(t, params, extras, points is not None, self.calibrated, error, points)

    def close(self) -> None:
        """Release the landmark model."""
        close = getattr(self.mesh, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
