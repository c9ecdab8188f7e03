"""FaceParams: the canonical per-frame face parameters, numpy-backed and batchable.

One record holds ``T`` frames (or a single frame) of every field in
:data:`FIELDS`, each with a documented range:

| field | range | meaning |
|---|---|---|
| head_yaw, head_pitch, head_roll | -90..90 deg | head rotation (yaw left +, pitch down +, roll right-ear-down +) |
| head_x, head_y, head_z | -0.5..0.5 | head translation in units of face height (x right, y up, z forward) |
| jaw_open | 0..1 | 0 closed, 1 fully open |
| mouth_wide, mouth_round | 0..1 | lip spreading / rounding (pucker) |
| smile_left, smile_right | 0..1 | mouth corners up (anatomical sides) |
| mouth_frown | 0..1 | mouth corners down |
| brow_up_left, brow_up_right | 0..1 | brow raise |
| brow_down | 0..1 | brow lowering / frown |
| blink_left, blink_right | 0..1 | 0 open, 1 closed |
| eye_wide | 0..1 | upper lid raise |
| gaze_yaw, gaze_pitch | -45..45 deg | eye direction relative to the head (yaw left +, pitch down +) |
| happy, sad, angry, surprised, relaxed | 0..1 | emotion weights |

Values outside a range are clamped; NaN or inf raises :class:`ValueError`
naming the field. Sides are anatomical (the avatar's own left).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

FIELDS: dict[str, tuple[float, float]] = {
    "head_yaw": (-90.0, 90.0),
    "head_pitch": (-90.0, 90.0),
    "head_roll": (-90.0, 90.0),
    "head_x": (-0.5, 0.5),
    "head_y": (-0.5, 0.5),
    "head_z": (-0.5, 0.5),
    "jaw_open": (0.0, 1.0),
    "mouth_wide": (0.0, 1.0),
    "mouth_round": (0.0, 1.0),
    "smile_left": (0.0, 1.0),
    "smile_right": (0.0, 1.0),
    "mouth_frown": (0.0, 1.0),
    "brow_up_left": (0.0, 1.0),
    "brow_up_right": (0.0, 1.0),
    "brow_down": (0.0, 1.0),
    "blink_left": (0.0, 1.0),
    "blink_right": (0.0, 1.0),
    "eye_wide": (0.0, 1.0),
    "gaze_yaw": (-45.0, 45.0),
    "gaze_pitch": (-45.0, 45.0),
    "happy": (0.0, 1.0),
    "sad": (0.0, 1.0),
    "angry": (0.0, 1.0),
    "surprised": (0.0, 1.0),
    "relaxed": (0.0, 1.0),
}
NAMES: tuple[str, ...] = tuple(FIELDS)
EMOTIONS: tuple[str, ...] = ("happy", "sad", "angry", "surprised", "relaxed")
_INDEX = {n: i for i, n in enumerate(NAMES)}
_LO = np.array([lo for lo, _ in FIELDS.values()], dtype=np.float32)
_HI = np.array([hi for _, hi in FIELDS.values()], dtype=np.float32)


def _check_finite(values: NDArray[Any]) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        col = int(np.argwhere(bad)[0][-1])
        raise ValueError(f"FaceParams: field {NAMES[col]!r} is not finite")


class FaceParams:
    """``T`` frames of face parameters backed by a (T, F) float32 array (F = ``len(NAMES)``).

    Build with :meth:`neutral`, :meth:`from_fields` or :meth:`from_array`; read a
    field as an attribute (``p.jaw_open`` → (T,)) or with ``p["jaw_open"]``.
    Instances are immutable: :meth:`replace` returns a new record.
    """

    __slots__ = ("_values",)

    def __init__(self, values: NDArray[Any]) -> None:
        values = np.array(values, dtype=np.float32, copy=True)
        if values.ndim != 2 or values.shape[1] != len(NAMES):
            raise ValueError(f"FaceParams: expected (T, {len(NAMES)}) values, got {values.shape}")
        _check_finite(values)
        np.clip(values, _LO, _HI, out=values)
        values.setflags(write=False)
        self._values = values

    @classmethod
    def neutral(cls, n: int = 1) -> FaceParams:
        """``n`` frames with every field 0."""
        return cls(np.zeros((n, len(NAMES)), np.float32))

    @classmethod
    def from_array(cls, values: NDArray[Any]) -> FaceParams:
        """From (T, F) or (F,) values in :data:`NAMES` order."""
        values = np.asarray(values, dtype=np.float32)
        return cls(values[None, :] if values.ndim == 1 else values)

    @classmethod
    def from_fields(cls, n: int | None = None, **fields: float | NDArray[Any]) -> FaceParams:
        """From named fields (scalars broadcast, arrays of length ``T``); missing fields are 0."""
        unknown = sorted(set(fields) - set(NAMES))
        if unknown:
            raise ValueError(f"FaceParams: unknown field(s) {unknown}")
        lengths = {k: np.size(v) for k, v in fields.items() if np.ndim(v) > 0}
        sizes = set(lengths.values()) | ({n} if n is not None else set())
        if len(sizes) > 1:
            raise ValueError(f"FaceParams: fields have different lengths {lengths} (n={n})")
        t = sizes.pop() if sizes else 1
        values = np.zeros((t, len(NAMES)), np.float32)
        for k, v in fields.items():
            arr = np.asarray(v, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise ValueError(f"FaceParams: field {k!r} is not finite")
            values[:, _INDEX[k]] = arr
        return cls(values)

    @property
    def values(self) -> NDArray[Any]:
        """The read-only (T, F) array."""
        return self._values

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, key: str) -> NDArray[Any]: ...
    @overload
    def __getitem__(self, key: int | slice) -> FaceParams: ...
    def __getitem__(self, key: str | int | slice) -> NDArray[Any] | FaceParams:
        """A field's (T,) column by name, or the frames at an index or slice as FaceParams."""
        if isinstance(key, str):
            if key not in _INDEX:
                raise KeyError(f"FaceParams: unknown field {key!r}")
            return self._values[:, _INDEX[key]]
        rows = self._values[key]
        return FaceParams(rows[None, :] if rows.ndim == 1 else rows)

    def __getattr__(self, name: str) -> NDArray[Any]:
        if name in _INDEX:
            return self._values[:, _INDEX[name]]
        raise AttributeError(f"FaceParams has no field {name!r}")

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def as_dict(self, frame: int = 0) -> dict[str, float]:
        """One frame as ``{field: value}``."""
        return {n: float(v) for n, v in zip(NAMES, self._values[frame])}

    def replace(self, **fields: float | NDArray[Any]) -> FaceParams:
        """A copy with some fields set (scalars broadcast over frames)."""
        unknown = sorted(set(fields) - set(NAMES))
        if unknown:
            raise ValueError(f"FaceParams: unknown field(s) {unknown}")
        values = self._values.copy()
        for k, v in fields.items():
            arr = np.asarray(v, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise ValueError(f"FaceParams: field {k!r} is not finite")
            values[:, _INDEX[k]] = arr
        return FaceParams(values)

    @staticmethod
    def concat(parts: list[FaceParams] | tuple[FaceParams, ...]) -> FaceParams:
        """Frames of several records one after another."""
        return FaceParams(np.concatenate([p.values for p in parts]) if parts else np.zeros((0, len(NAMES))))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaceParams) and np.array_equal(self._values, other._values)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FaceParams(frames={len(self)})"


def field_ranges() -> Mapping[str, tuple[float, float]]:
    """``{field: (low, high)}`` for every field."""
    return dict(FIELDS)
