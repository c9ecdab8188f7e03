"""User controls of the diffusion motion generator (PC-Talk, GoHD, AniTalker, Takin-ADA style).

Conditioning controls steer the sampler (emotion label/vector and
intensity, per-region emotions, emotion from a reference expression,
reference head pose, gaze, guidance scales, seed); output controls act on
generated frames (lip-movement scale, global and loudness-adaptive;
head-pose amplitude around the reference pose; gaze offsets). All can be
changed while streaming; the next generated frame uses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from pyavatar.face.params import EMOTIONS
from pyavatar.motion.diffusion.sampler import Guidance
from pyavatar.motion.diffusion.space import FACE_GAZE, FACE_LIP_SCALED, GAZE_EXP_GAIN, MotionSpace

EmotionSpec = str | Sequence[float] | np.ndarray | None


def emotion_vector(spec: EmotionSpec, intensity: float = 1.0) -> np.ndarray:
    """(len(EMOTIONS),) weights from a label (``"neutral"``/None = zeros) or a vector, times ``intensity``."""
    if not 0.0 <= intensity <= 2.0:
        raise ValueError(f"emotion intensity must be within 0..2, got {intensity}")
    if spec is None or (isinstance(spec, str) and spec == "neutral"):
        return np.zeros(len(EMOTIONS), np.float32)
    if isinstance(spec, str):
        if spec not in EMOTIONS:
            raise ValueError(f"unknown emotion {spec!r}; choose from {['neutral', *EMOTIONS]}")
        v = np.zeros(len(EMOTIONS), np.float32)
        v[EMOTIONS.index(spec)] = 1.0
        return v * intensity
    v = np.asarray(spec, np.float32)
    if v.shape != (len(EMOTIONS),) or not np.isfinite(v).all():
        raise ValueError(f"emotion vector must be {len(EMOTIONS)} finite weights over {EMOTIONS}, got {v.shape}")
    return v * intensity


def reference_expression(frames: np.ndarray, space: MotionSpace, rest: np.ndarray) -> np.ndarray:
    """A (dim,) raw reference frame from one frame or the mean of a clip.

    Keypoints space: expression arrays (21, 3) / (63,) / (T, 21, 3) / (T, 63)
    from LivePortrait's motion extractor, or full (T, 70) frames; non-
    expression dims are taken from ``rest``. FaceParams space: (dim,) or (T, dim).
    """
    a = np.asarray(frames, np.float32)
    if space.name == "keypoints":
        if a.shape[-2:] == (21, 3):
            a = a.reshape(*a.shape[:-2], 63)
        if a.shape[-1] == 63:
            a = np.concatenate([a, np.broadcast_to(rest[63:], (*a.shape[:-1], space.dim - 63))], axis=-1)
    if a.shape[-1] != space.dim or a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(
            f"reference expression for space {space.name!r} must end in {space.dim} values "
            f"(or 63 / 21x3 expression values), got {np.shape(frames)}"
        )
    if not np.isfinite(a).all():
        raise ValueError("reference expression is not finite")
    return a.mean(axis=0) if a.ndim == 2 else a


@dataclass
class MotionControls:
    """Controls of a :class:`~pyavatar.motion.diffusion.StreamingMotionGenerator`.

    Emotion: ``emotion`` (label or vector) with ``emotion_intensity``;
    ``upper_emotion`` / ``upper_intensity`` give the eyes/brows their own
    (``None``: same as the lips); ``emotion_reference`` (raw frame, see
    :func:`reference_expression`) conditions on an expression taken from a
    reference image or clip, scaled by ``reference_intensity`` towards rest.
    Output: ``lip_scale`` (global) and ``lip_loudness`` (0 = off; gain per
    20 dB above the running speech level); ``pose_amplitude`` around
    ``reference_pose`` (pitch, yaw, roll degrees; also a condition and the
    target of ``guidance.pose``); ``gaze`` (yaw, pitch degrees). ``seed``
    picks the noise of frames generated from now on.
    """

    emotion: EmotionSpec = None
    emotion_intensity: float = 1.0
    upper_emotion: EmotionSpec = None
    upper_intensity: float | None = None
    emotion_reference: np.ndarray | None = None
    reference_intensity: float = 1.0
    lip_scale: float = 1.0
    lip_loudness: float = 0.0
    pose_amplitude: float = 1.0
    reference_pose: tuple[float, float, float] | None = None
    gaze: tuple[float, float] | None = None
    guidance: Guidance = field(default_factory=Guidance)
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ValueError` naming the first invalid control."""
        emotion_vector(self.emotion, self.emotion_intensity)
        if self.upper_emotion is not None or self.upper_intensity is not None:
            emotion_vector(
                self.upper_emotion if self.upper_emotion is not None else self.emotion,
                self.emotion_intensity if self.upper_intensity is None else self.upper_intensity,
            )
        for name, lo, hi in (
            ("lip_scale", 0.0, 3.0),
            ("lip_loudness", 0.0, 4.0),
            ("pose_amplitude", 0.0, 3.0),
            ("reference_intensity", 0.0, 2.0),
        ):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ValueError(f"{name} must be within {lo}..{hi}, got {v}")
        for name, n, lim in (("reference_pose", 3, 90.0), ("gaze", 2, 45.0)):
            v = getattr(self, name)
            if v is not None and (np.shape(v) != (n,) or not np.all(np.abs(np.asarray(v, float)) <= lim)):
                raise ValueError(f"{name} must be {n} angles within ±{lim} degrees, got {v}")
        if not isinstance(self.guidance, Guidance):
            raise ValueError(f"guidance must be a Guidance, got {type(self.guidance).__name__}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def updated(self, **changes: object) -> MotionControls:
        """A validated copy with ``changes``."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}")
        new = replace(self, **changes)
        new.validate()
        return new

    def lips_emotion(self) -> np.ndarray:
        """Emotion vector of the lips (and everything outside the eyes/brows)."""
        return emotion_vector(self.emotion, self.emotion_intensity)

    def upper_emotion_vector(self) -> np.ndarray:
        """Emotion vector of the eyes and brows."""
        spec = self.emotion if self.upper_emotion is None else self.upper_emotion
        return emotion_vector(spec, self.emotion_intensity if self.upper_intensity is None else self.upper_intensity)

    @property
    def split_regions(self) -> bool:
        """Whether the eyes/brows get a different emotion than the lips."""
        return not np.array_equal(self.lips_emotion(), self.upper_emotion_vector())


class LoudnessTracker:
    """Loudness-adaptive lip scale: ``clip(1 + gain (dB - level) / 20, 0.25, 2)`` while speaking, 1 otherwise.

    ``level`` follows the loudness of speech frames (above ``gate_db``) with time constant ``tau`` seconds.
    """

    def __init__(self, fps: float, tau: float = 3.0, gate_db: float = -50.0) -> None:
        self._a = 1.0 - float(np.exp(-1.0 / (fps * tau)))
        self.gate_db = gate_db
        self.level: float | None = None

    def factors(self, db: np.ndarray, gain: float) -> np.ndarray:
        """Scale factors for the frames' loudness ``db`` (updates the running level)."""
        out = np.ones(len(db))
        for i, v in enumerate(np.asarray(db, np.float64)):
            if v < self.gate_db:
                continue
            self.level = v if self.level is None else self.level + self._a * (v - self.level)
            out[i] = np.clip(1.0 + gain * (v - self.level) / 20.0, 0.25, 2.0)
        return out


def apply_output_controls(
    raw: np.ndarray, space: MotionSpace, c: MotionControls, rest: np.ndarray, lip_factor: np.ndarray
) -> np.ndarray:
    """Lip scale (times the per-frame ``lip_factor``), pose amplitude and gaze on raw frames (n, dim)."""
    out = np.array(raw, np.float32, copy=True)
    s = (c.lip_scale * np.asarray(lip_factor, np.float32))[:, None]
    if space.name == "keypoints":
        lips = list(space.lips)
        out[:, lips] = rest[lips] + s * (out[:, lips] - rest[lips])
    else:
        cols = list(FACE_LIP_SCALED)
        out[:, cols] = s * out[:, cols]
    angles = list(space.angles)
    center = np.asarray(c.reference_pose, np.float32) if c.reference_pose is not None else rest[angles]
    out[:, angles] = center + c.pose_amplitude * (out[:, angles] - center)
    if c.gaze is not None:
        yaw, pitch = c.gaze
        if space.name == "keypoints":
            for (kp, axis), gain in GAZE_EXP_GAIN.items():
                out[:, 3 * kp + axis] += gain * (yaw if axis == 0 else pitch)
        else:
            out[:, list(FACE_GAZE)] = (yaw, pitch)
    return out
