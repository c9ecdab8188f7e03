"""Output spaces of the diffusion motion generator (its packet, :class:`~pyavatar.packets.MotionChunk`).

``keypoints``: JoyVASA's 70-dim LivePortrait layout per frame (expression
21x3, scale, translation 3, pitch/yaw/roll in degrees; see
:data:`pyavatar.motion.joyvasa.LAYOUT`). ``face_params``: the
:class:`~pyavatar.face.params.FaceParams` fields. A model works on normalised
values ``(raw - offset) / scale``; the statistics travel with the model.
Each space names the dims of its control regions (lips, eyes/brows, head
pose, gaze).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyavatar.face.params import FIELDS, NAMES, FaceParams
from pyavatar.motion.common.keypoints import EYE_KEYPOINTS, LAYOUT, LIP_KEYPOINTS, MOTION_DIM, MotionTemplate, unpack
from pyavatar.packets import MotionChunk

SPACES = ("keypoints", "face_params")
#: Expression entries LivePortrait's eyeballs move with (keypoints 11 and 15, x and y).
GAZE_EXP_GAIN = {(11, 0): 0.0007, (15, 0): 0.001, (11, 1): -0.001, (15, 1): -0.001}


def _kp_dims(keypoints: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(3 * k + c for k in keypoints for c in range(3))


def _fields(*names: str) -> tuple[int, ...]:
    return tuple(NAMES.index(n) for n in names)


@dataclass(frozen=True)
class MotionSpace:
    """Dimension count and named regions of an output space."""

    name: str
    dim: int
    lips: tuple[int, ...]
    upper: tuple[int, ...]
    pose: tuple[int, ...]
    angles: tuple[int, ...]  # pitch, yaw, roll (degrees) within ``pose``

    def mask(self, region: str) -> np.ndarray:
        """Boolean (dim,) mask of ``region`` (lips, upper, pose, other)."""
        m = np.zeros(self.dim, bool)
        if region == "other":
            m[:] = True
            m[list(self.lips) + list(self.upper)] = False
            return m
        if region not in ("lips", "upper", "pose"):
            raise ValueError(f"unknown region {region!r}; choose lips, upper, pose or other")
        m[list(getattr(self, region))] = True
        return m

    def rest(self) -> np.ndarray:
        """Raw values of a neutral, frontal face: all zero except a keypoint scale of 1."""
        r = np.zeros(self.dim, np.float32)
        if self.name == "keypoints":
            r[LAYOUT["scale"][0]] = 1.0
        return r


_POSE_KP = tuple(range(LAYOUT["scale"][0], LAYOUT["roll"][1]))
KEYPOINTS = MotionSpace(
    name="keypoints",
    dim=MOTION_DIM,
    lips=_kp_dims(LIP_KEYPOINTS),
    upper=_kp_dims(EYE_KEYPOINTS),
    pose=_POSE_KP,
    angles=(LAYOUT["pitch"][0], LAYOUT["yaw"][0], LAYOUT["roll"][0]),
)
FACE_PARAMS = MotionSpace(
    name="face_params",
    dim=len(NAMES),
    lips=_fields("jaw_open", "mouth_wide", "mouth_round", "smile_left", "smile_right", "mouth_frown"),
    upper=_fields("brow_up_left", "brow_up_right", "brow_down", "blink_left", "blink_right", "eye_wide"),
    pose=_fields("head_pitch", "head_yaw", "head_roll", "head_x", "head_y", "head_z"),
    angles=_fields("head_pitch", "head_yaw", "head_roll"),
)
#: FaceParams fields the lip-scale control multiplies.
FACE_LIP_SCALED = _fields("jaw_open", "mouth_wide", "mouth_round")
FACE_GAZE = _fields("gaze_yaw", "gaze_pitch")


def get_space(name: str) -> MotionSpace:
    """The :class:`MotionSpace` called ``name``."""
    if name == "keypoints":
        return KEYPOINTS
    if name == "face_params":
        return FACE_PARAMS
    raise ValueError(f"unknown motion space {name!r}; choose from {SPACES}")


def default_normalization(space: MotionSpace) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, scale)`` without data: field mid-range / half-range for FaceParams; identity for keypoints."""
    if space.name == "face_params":
        lo = np.array([FIELDS[n][0] for n in NAMES], np.float32)
        hi = np.array([FIELDS[n][1] for n in NAMES], np.float32)
        return (lo + hi) / 2, (hi - lo) / 2
    return np.zeros(space.dim, np.float32), np.ones(space.dim, np.float32)


def normalization_from_template(tpl: MotionTemplate) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, scale)`` equal to JoyVASA's template normalisation (z-score exp, min-max pose)."""
    offset = np.zeros(MOTION_DIM, np.float32)
    scale = np.ones(MOTION_DIM, np.float32)
    offset[0:63], scale[0:63] = tpl.mean_exp, tpl.std_exp
    for k in ("scale", "t", "pitch", "yaw", "roll"):
        lo, hi = LAYOUT[k]
        offset[lo:hi], scale[lo:hi] = tpl.min[k], tpl.max[k] - tpl.min[k]
    return offset, scale


def chunk_fields(chunk: MotionChunk) -> dict[str, np.ndarray]:
    """Keypoints-space chunk: ``exp`` (T, 21, 3), ``scale`` (T, 1), ``t`` (T, 3), ``pitch``/``yaw``/``roll`` (T, 1)."""
    if chunk.space != "keypoints":
        raise ValueError(f"chunk_fields() is for the keypoints space, this chunk is {chunk.space!r}")
    return unpack(chunk.values)


def chunk_face_params(chunk: MotionChunk) -> FaceParams:
    """FaceParams-space chunk: the frames as :class:`FaceParams` (values clamped to their ranges)."""
    if chunk.space != "face_params":
        raise ValueError(f"chunk_face_params() is for the face_params space, this chunk is {chunk.space!r}")
    return FaceParams(chunk.values)
