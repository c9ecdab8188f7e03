"""Emotion presets with intensity and per-region mixing.

A preset is split into a *mouth* region (smile, frown, lip shape, jaw offset)
and an *upper* region (brows, lids). :class:`EmotionMix` picks one preset and
intensity per region — e.g. a smiling mouth with sad brows — and eases
towards changes with a time constant. Offsets are added to lip-sync and idle
motion by :func:`pyavatar.motion.compose.compose`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyavatar.face.params import EMOTIONS

MOUTH_FIELDS = ("smile_left", "smile_right", "mouth_frown", "mouth_wide", "mouth_round", "jaw_open")
UPPER_FIELDS = ("brow_up_left", "brow_up_right", "brow_down", "eye_wide", "blink_left", "blink_right")
PRESET_NAMES = ("neutral", *EMOTIONS)

# (mouth offsets, upper offsets) at intensity 1, in MOUTH_FIELDS / UPPER_FIELDS order
PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "neutral": ((0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)),
    "happy": ((0.8, 0.8, 0, 0.2, 0, 0), (0.15, 0.15, 0, 0, 0.2, 0.2)),
    "sad": ((0, 0, 0.6, 0, 0.1, 0), (0.45, 0.45, 0.15, 0, 0.2, 0.2)),
    "angry": ((0, 0, 0.45, 0.25, 0, 0), (0, 0, 0.85, 0.25, 0.1, 0.1)),
    "surprised": ((0, 0, 0, 0, 0.3, 0.25), (0.9, 0.9, 0, 0.7, 0, 0)),
    "relaxed": ((0.3, 0.3, 0, 0.05, 0, 0), (0, 0, 0, 0, 0.3, 0.3)),
}


def preset(name: str, intensity: float = 1.0, region: str = "both") -> dict[str, float]:
    """Offsets of preset ``name`` scaled by ``intensity`` (0..1) for ``region`` (mouth, upper or both)."""
    if name not in PRESETS:
        raise ValueError(f"unknown emotion {name!r}; choose from {list(PRESET_NAMES)}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be within 0..1, got {intensity}")
    if region not in ("mouth", "upper", "both"):
        raise ValueError(f"region must be 'mouth', 'upper' or 'both', got {region!r}")
    mouth, upper = PRESETS[name]
    out: dict[str, float] = {}
    if region in ("mouth", "both"):
        out.update({f: v * intensity for f, v in zip(MOUTH_FIELDS, mouth)})
    if region in ("upper", "both"):
        out.update({f: v * intensity for f, v in zip(UPPER_FIELDS, upper)})
    return out


@dataclass(frozen=True)
class EmotionTarget:
    """One preset per region with its intensity."""

    mouth: str = "neutral"
    mouth_intensity: float = 1.0
    upper: str = "neutral"
    upper_intensity: float = 1.0


class EmotionMix:
    """Streaming emotion offsets: set a target, read eased per-frame offsets and emotion weights."""

    FIELDS = (*MOUTH_FIELDS, *UPPER_FIELDS, *EMOTIONS)

    def __init__(self, fps: float = 25.0, ease: float = 0.3) -> None:
        if fps <= 0 or ease <= 0:
            raise ValueError(f"fps and ease must be positive, got fps={fps}, ease={ease}")
        self._a = float(np.exp(-1.0 / (fps * ease)))
        self._target = np.zeros(len(self.FIELDS))
        self._state = np.zeros(len(self.FIELDS))

    def set(
        self, emotion: str, intensity: float = 1.0, *, upper: str | None = None, upper_intensity: float | None = None
    ) -> None:
        """Aim at ``emotion`` on the mouth and at ``upper`` (default: the same) on brows and eyes."""
        self.set_target(
            EmotionTarget(
                emotion, intensity, upper or emotion, intensity if upper_intensity is None else upper_intensity
            )
        )

    def set_target(self, target: EmotionTarget) -> None:
        """Aim at ``target``."""
        offsets = {
            **preset(target.mouth, target.mouth_intensity, "mouth"),
            **preset(target.upper, target.upper_intensity, "upper"),
        }
        weights = dict.fromkeys(EMOTIONS, 0.0)  # each region contributes half of an emotion's weight
        for name, k in ((target.mouth, target.mouth_intensity), (target.upper, target.upper_intensity)):
            if name in weights:
                weights[name] += 0.5 * k
        self._target = np.array([offsets.get(f, weights.get(f, 0.0)) for f in self.FIELDS])

    def jump(self) -> None:
        """Skip the easing: the current state becomes the target."""
        self._state = self._target.copy()

    def generate(self, n: int) -> dict[str, np.ndarray]:
        """The next ``n`` frames of offsets ``{field: (n,)}``."""
        rows = np.empty((n, len(self.FIELDS)))
        for i in range(n):
            self._state = self._a * self._state + (1 - self._a) * self._target
            rows[i] = self._state
        return {f: rows[:, j] for j, f in enumerate(self.FIELDS)}
