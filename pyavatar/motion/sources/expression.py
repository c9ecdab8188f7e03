"""Expression from a reference face (``--emotion-ref IMAGE|VIDEO``) as an emotion offset on any motion source.

:class:`ReferenceExpression` holds what
:func:`pyavatar.tracking.reference.reference_expression` measured (the
reference's brows, smile, frown, eye and mouth shape relative to its own
neutral), an intensity and per-region weights. :class:`ExpressionOffset`
wraps a motion source and adds ``expression × intensity × region weight`` to
every frame's FaceParams (clipped to the fields' ranges), so audio-driven
sources (``dsp``, ``diffusion``) and the tracking sources get it alike. The
``intensity`` control scales the reference (and reaches the wrapped source's
own emotion intensity when it has one). Keypoint motion (``joyvasa``) is not
changed: the offset reaches the classical renderer and the VMC/OSC outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.face.params import FIELDS, NAMES
from pyavatar.packets import AudioChunk, MotionFrame
from pyavatar.tracking.reference import emotion_offsets, reference_expression
from pyavatar.tracking.regions import check_weights

_LO = np.array([lo for lo, _ in FIELDS.values()], np.float32)
_HI = np.array([hi for _, hi in FIELDS.values()], np.float32)


@dataclass(frozen=True)
class ReferenceExpression:
    """A measured reference expression with its intensity (>= 0) and per-region weights (0..1)."""

    values: dict[str, float]
    intensity: float = 1.0
    regions: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        emotion_offsets(self.values, 1, intensity=self.intensity, regions=check_weights(self.regions))

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        neutral: str | Path | None = None,
        intensity: float = 1.0,
        regions: dict[str, float] | None = None,
    ) -> ReferenceExpression:
        """Measure the expression of an image (needs ``neutral``, an image of the same face at rest) or a video."""
        from pyavatar.motion.sources.video import read_frames

        frames = read_frames(path)
        if len(frames) == 1 and neutral is None:
            raise ValueError(
                f"--emotion-ref {path}: an image reference needs --emotion-ref-neutral IMAGE (the same "
                "face at rest), or give a video"
            )
        try:
            values = reference_expression(frames, neutral=read_frames(neutral) if neutral is not None else None)
        except ValueError as e:
            raise ValueError(f"--emotion-ref {path}: {e}") from None
        return cls(values, intensity, dict(regions or {}))

    def offsets(self, intensity: float | None = None) -> np.ndarray:
        """(F,) FaceParams offsets at ``intensity`` (default: the reference's own)."""
        level = self.intensity if intensity is None else intensity
        per_field = emotion_offsets(self.values, 1, intensity=level, regions=self.regions)
        out = np.zeros(len(NAMES), np.float32)
        for name, v in per_field.items():
            out[NAMES.index(name)] = v[0]
        return out


class ExpressionOffset:
    """A :class:`~pyavatar.motion.registry.MotionSource` that adds a reference expression to ``source``'s frames."""

    def __init__(self, source: Any, expression: ReferenceExpression) -> None:
        self.source = source
        self.expression = expression
        self.name = source.name
        self.fps = source.fps
        self.controls = frozenset(source.controls) | {"intensity"}
        self._offsets = expression.offsets()

    @property
    def latency_s(self) -> float:
        """The wrapped source's latency."""
        return self.source.latency_s

    def _with(self, frames: list[MotionFrame]) -> list[MotionFrame]:
        return [replace(f, params=np.clip(f.params + self._offsets, _LO, _HI).astype(np.float32)) for f in frames]

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """The wrapped source's frames, offset."""
        return self._with(self.source.process(chunk, live))

    def flush(self) -> list[MotionFrame]:
        """The wrapped source's tail, offset."""
        return self._with(self.source.flush())

    def reset(self) -> None:
        """Reset the wrapped source."""
        self.source.reset()

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """The wrapped source's check (``intensity`` is always honoured: it scales the offset)."""
        if name != "intensity" or "intensity" in self.source.controls:
            self.source.check_control(name, values)

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a control: ``intensity`` scales the offset (and reaches the source when it honours it)."""
        self.check_control(name, values)
        if name == "intensity":
            self._offsets = self.expression.offsets(float(values["intensity"]))
            if "intensity" not in self.source.controls:
                return
        self.source.apply_control(name, values)

    def stats(self) -> dict[str, Any]:
        """The wrapped source's statistics, marked ``emotion_ref``."""
        return {**self.source.stats(), "emotion_ref": True}

    def jump_emotion(self) -> None:
        """The wrapped source's starting emotion at once (when it has one)."""
        jump = getattr(self.source, "jump_emotion", None)
        if jump is not None:
            jump()

    def close(self) -> None:
        """Close the wrapped source."""
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
