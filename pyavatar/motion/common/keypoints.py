"""From JoyVASA's normalised motion to LivePortrait driving keypoints.

Layout of one frame (:data:`LAYOUT`): expression 21x3 (z-scored), scale,
translation (3), pitch, yaw, roll (min-max scaled, angles in degrees); dims
beyond 70 are unused. :class:`MotionTemplate` holds the statistics
(``motion_template.pkl`` of the release, read without executing pickle code).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

LAYOUT: dict[str, tuple[int, int]] = {
    "exp": (0, 63),
    "scale": (63, 64),
    "t": (64, 67),
    "pitch": (67, 68),
    "yaw": (68, 69),
    "roll": (69, 70),
}
MOTION_DIM = 70
#: Expression keypoints JoyVASA drives absolutely (the lips).
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
#: Expression keypoints of the eyes and brows (LivePortrait's eye retargeting set plus the brows).
EYE_KEYPOINTS = (1, 2, 11, 13, 15, 16, 18)
POSE_FIELDS = ("scale", "t", "pitch", "yaw", "roll")
_MINMAX = POSE_FIELDS


@dataclass(frozen=True)
class MotionTemplate:
    """Normalisation statistics: z-score for ``exp``, min-max for scale, t and angles (float32 arrays)."""

    mean_exp: np.ndarray
    std_exp: np.ndarray
    min: dict[str, np.ndarray]
    max: dict[str, np.ndarray]

    @classmethod
    def from_mapping(cls, d: Mapping[str, object]) -> MotionTemplate:
        """From ``{"mean_exp", "std_exp", "min_scale", "max_scale", "min_t", ...}`` (extra keys ignored)."""

        def get(key: str, size: int) -> np.ndarray:
            if key not in d:
                raise KeyError(f"motion template: missing {key!r}")
            a = np.asarray(d[key], dtype=np.float32).reshape(-1)
            if a.size != size:
                raise ValueError(f"motion template: {key!r} has {a.size} values, expected {size}")
            return a

        sizes = {k: hi - lo for k, (lo, hi) in LAYOUT.items()}
        return cls(
            mean_exp=get("mean_exp", 63),
            std_exp=get("std_exp", 63),
            min={k: get(f"min_{k}", sizes[k]) for k in _MINMAX},
            max={k: get(f"max_{k}", sizes[k]) for k in _MINMAX},
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` (the pickle's key names)."""
        out = {"mean_exp": self.mean_exp, "std_exp": self.std_exp}
        for k in _MINMAX:
            out[f"min_{k}"], out[f"max_{k}"] = self.min[k], self.max[k]
        return out

    def denormalize(self, coef: np.ndarray | Tensor) -> dict[str, np.ndarray]:
        """(T, >=70) normalised motion → ``exp`` (T, 21, 3), ``scale`` (T, 1), ``t`` (T, 3), angles (T, 1) deg."""
        c = coef.detach().cpu().numpy() if isinstance(coef, Tensor) else np.asarray(coef)
        c = c.astype(np.float32)
        if c.ndim != 2 or c.shape[1] < MOTION_DIM:
            raise ValueError(f"denormalize: coef must be (T, >= {MOTION_DIM}), got {c.shape}")
        out = {"exp": (c[:, 0:63] * self.std_exp + self.mean_exp).reshape(-1, 21, 3)}
        for k in _MINMAX:
            lo, hi = LAYOUT[k]
            out[k] = c[:, lo:hi] * (self.max[k] - self.min[k]) + self.min[k]
        return out

    def normalize(self, motion: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`denormalize` (training formulas, with JoyVASA's 1e-9 guards): (T, 70)."""
        exp = np.asarray(motion["exp"], np.float32).reshape(-1, 63)
        cols = [(exp - self.mean_exp) / (self.std_exp + 1e-9)]
        for k in _MINMAX:
            v = np.asarray(motion[k], np.float32).reshape(len(exp), -1)
            cols.append((v - self.min[k]) / (self.max[k] - self.min[k] + 1e-9))
        return np.concatenate(cols, axis=1).astype(np.float32)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists of numpy arrays and scalars only; any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_template(path: str | Path) -> MotionTemplate:
    """Read ``motion_template.pkl`` (numpy arrays only, nothing executed), ``.npz`` or ``.safetensors``."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return MotionTemplate.from_mapping({k: z[k] for k in z.files})
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return MotionTemplate.from_mapping(load_file(path))
    with path.open("rb") as f:
        try:
            data = _ArrayUnpickler(f).load()
        except pickle.UnpicklingError as e:
            raise ValueError(f"{path}: not a plain motion template ({e})") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return MotionTemplate.from_mapping(data)


def rotation_matrix(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations from angles in degrees, for row-vector keypoints: ``(Rz(roll) Ry(yaw) Rx(pitch))^T``."""
    x, y, z = (torch.as_tensor(np.asarray(a, np.float32).reshape(-1)) / 180 * np.pi for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], 1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], 1).view(-1, 3, 3)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], 1).view(-1, 3, 3)
    return (rz @ ry @ rx).transpose(1, 2).numpy()


def ema_smooth(motion: Mapping[str, np.ndarray], alpha: float = 0.01) -> dict[str, np.ndarray]:
    """JoyVASA's EMA ``y_k = alpha x_k + (1 - alpha) y_{k-1}``, ``y_0 = x_0`` on scale, t and angles (not exp)."""
    out = dict(motion)
    for k in POSE_FIELDS:
        x = np.asarray(motion[k], np.float32)
        y = np.empty_like(x)
        if len(x):
            y[0] = x[0]
        for i in range(1, len(x)):
            y[i] = alpha * x[i] + (1 - alpha) * y[i - 1]
        out[k] = y
    return out


@dataclass(frozen=True)
class SourceKeypoints:
    """What LivePortrait's motion extractor gives for the source image (one frame)."""

    x_c: np.ndarray  # (21, 3) canonical keypoints
    R: np.ndarray  # (3, 3)
    exp: np.ndarray  # (21, 3)
    scale: float
    t: np.ndarray  # (3,)

    @property
    def x_s(self) -> np.ndarray:
        """(21, 3) source keypoints ``s (x_c R + exp) + [tx, ty, 0]``."""
        x = self.scale * (self.x_c @ self.R + self.exp)
        x[:, :2] += self.t[:2]
        return x.astype(np.float32)


def driving_pose(
    motion: Mapping[str, np.ndarray],
    source: SourceKeypoints,
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    lip_keypoints: tuple[int, ...] = LIP_KEYPOINTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """JoyVASA's driving rotation (T, 3, 3), expression (T, 21, 3), scale (T, 1) and translation (T, 3).

    Rotation, scale, translation and expression are taken relative to the
    ``reference`` driving frame (default: frame 0 of ``motion``), except the
    lip keypoints, whose expression is absolute; tz is zeroed.
    """
    exp = np.asarray(motion["exp"], np.float32).reshape(-1, 21, 3)
    R = motion["R"] if "R" in motion else rotation_matrix(motion["pitch"], motion["yaw"], motion["roll"])
    ref = reference if reference is not None else {k: np.asarray(v)[:1] for k, v in motion.items()}
    R0 = ref["R"] if "R" in ref else rotation_matrix(ref["pitch"], ref["yaw"], ref["roll"])
    exp0 = np.asarray(ref["exp"], np.float32).reshape(-1, 21, 3)
    r_new = np.asarray(R) @ np.swapaxes(np.asarray(R0), 1, 2) @ source.R
    delta = source.exp[None] + (exp - exp0)
    lips = list(lip_keypoints)
    delta[:, lips] = exp[:, lips]
    scale = source.scale * (np.asarray(motion["scale"], np.float32) / np.asarray(ref["scale"], np.float32))
    t = source.t[None] + (np.asarray(motion["t"], np.float32) - np.asarray(ref["t"], np.float32))
    t[:, 2] = 0
    return r_new, delta, scale, t


def compose_keypoints(
    motion: Mapping[str, np.ndarray],
    source: SourceKeypoints,
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    lip_keypoints: tuple[int, ...] = LIP_KEYPOINTS,
    driving_multiplier: float = 1.10,
) -> np.ndarray:
    """(T, 21, 3) driving keypoints as JoyVASA's human pipeline builds them (CLI defaults, no stitching).

    The pose and expression of :func:`driving_pose` applied to the source's
    canonical keypoints, pushed away from the source by ``driving_multiplier``.
    ``motion`` holds ``exp``, ``scale``, ``t`` and ``R`` (T, 3, 3) or the angles.
    """
    r_new, delta, scale, t = driving_pose(motion, source, reference=reference, lip_keypoints=lip_keypoints)
    x_d = scale[:, :, None] * (source.x_c[None] @ r_new + delta) + t[:, None, :]
    x_s = source.x_s
    return (x_s + driving_multiplier * (x_d - x_s)).astype(np.float32)


def pack(motion: Mapping[str, np.ndarray]) -> np.ndarray:
    """(T, 70) raw motion in :data:`LAYOUT` order from ``exp``, ``scale``, ``t``, ``pitch``, ``yaw``, ``roll``."""
    exp = np.asarray(motion["exp"], np.float32)
    cols = [exp.reshape(len(exp), 63)] + [np.asarray(motion[k], np.float32).reshape(len(exp), -1) for k in POSE_FIELDS]
    return np.concatenate(cols, axis=1)


def unpack(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack`: (T, >=70) raw motion → ``exp`` (T, 21, 3), ``scale``, ``t``, angles."""
    raw = np.asarray(raw, np.float32)
    out = {k: raw[:, lo:hi] for k, (lo, hi) in LAYOUT.items()}
    out["exp"] = out["exp"].reshape(-1, 21, 3)
    return out
