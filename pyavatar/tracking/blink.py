"""Per-eye blink range learned from the user's own blinks.

How far the lid-gap reading drops when an eye is fully closed differs per eye
and per face: lashes, glasses frames, lighting and the lid's shape change what
the landmark model sees, and one eye of a face can read a closure as only half
the gap lost. :class:`BlinkRange` watches each eye's raw blink value (0 open …
1 at the default closed level) for blinks — a dip that rises above
``threshold`` and falls back within ``max_s`` — and keeps the deepest of the
last ``remember`` dips as that eye's full closure; the blink value is then
divided by it (clipped to 1). Long closures (a squint, eyes shut) are not
blinks and teach nothing; nor do shallow dips under ``threshold`` (an open
eye's jitter, or the small sympathetic dip of one eye while the other blinks);
``floor`` bounds the gain, so jitter of an open eye never reads as a blink.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class BlinkRangeSettings:
    """When a dip counts as a blink, and how far the learned range may go.

    Attributes:
        threshold: raw blink value a dip must exceed.
        max_s: a dip longer than this is not a blink (squint, closed eyes).
        remember: how many recent blinks set the full closure (their deepest).
        floor: the lowest full-closure reading accepted (the gain is at most ``1 / floor``).
    """

    threshold: float = 0.35
    max_s: float = 0.5
    remember: int = 8
    floor: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < self.floor <= 1.0:
            raise ValueError(
                f"blink range: need 0 < threshold < floor <= 1, got threshold {self.threshold}, floor {self.floor}"
            )
        if self.max_s <= 0 or self.remember < 1:
            raise ValueError(f"blink range: max_s must be > 0 and remember >= 1, got {self.max_s}, {self.remember}")


class _Eye:
    """One eye's dip detector and full-closure reading."""

    def __init__(self, s: BlinkRangeSettings) -> None:
        self.s = s
        self.peaks: deque[float] = deque(maxlen=s.remember)
        self._start: float | None = None
        self._peak = 0.0

    @property
    def full(self) -> float:
        """The raw value that reads as a fully closed eye."""
        return max(self.s.floor, max(self.peaks)) if self.peaks else 1.0

    def update(self, value: float, t: float) -> float:
        if value > self.s.threshold:
            if self._start is None:
                self._start, self._peak = t, value
            self._peak = max(self._peak, value)
        elif self._start is not None:
            if t - self._start <= self.s.max_s:  # a blink: it taught us this eye's closure
                self.peaks.append(min(1.0, self._peak))
            self._start = None
        return min(1.0, value / self.full)


class BlinkRange:
    """Rescales each eye's raw blink value by the full closure learned from that eye's recent blinks."""

    def __init__(self, settings: BlinkRangeSettings | None = None) -> None:
        self.settings = settings or BlinkRangeSettings()
        self._eyes = (_Eye(self.settings), _Eye(self.settings))

    @property
    def full(self) -> tuple[float, float]:
        """(left, right) raw values read as fully closed now."""
        return self._eyes[0].full, self._eyes[1].full

    def update(self, left: float, right: float, t: float) -> tuple[float, float]:
        """The (left, right) blink values of the frame at ``t`` seconds, rescaled."""
        return self._eyes[0].update(left, t), self._eyes[1].update(right, t)

    def reset(self) -> None:
        """Forget the learned ranges (a new face or a new neutral)."""
        self._eyes = (_Eye(self.settings), _Eye(self.settings))
