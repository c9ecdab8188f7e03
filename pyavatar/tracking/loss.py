"""Tracking-loss handling: hold the last values, then ease to idle; ease back in when the face returns."""

from __future__ import annotations

import numpy as np


def smoothstep(x: float) -> float:
    """0 → 0, 1 → 1 with zero slope at both ends."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


class LossHandler:
    """Turns a stream of "tracked value or nothing" into a stream without jumps.

    While tracked, the output follows the tracked value (after a face comes
    back, it crossfades from where the output was over ``reacquire_s``). When
    tracking is lost it holds the last output for ``hold_s``, then crossfades
    to the idle value over ``ease_s``.
    """

    def __init__(self, hold_s: float = 0.5, ease_s: float = 1.0, reacquire_s: float = 0.25) -> None:
        for name, v in (("hold_s", hold_s), ("ease_s", ease_s), ("reacquire_s", reacquire_s)):
            if v < 0:
                raise ValueError(f"LossHandler: {name} must be >= 0, got {v}")
        self.hold_s, self.ease_s, self.reacquire_s = hold_s, ease_s, reacquire_s
        self._out: np.ndarray | None = None
        self._from: np.ndarray | None = None  # output when the current phase began
        self._t_phase = 0.0
        self._tracking = False

    @property
    def tracking(self) -> bool:
        """Whether the last update had a tracked value."""
        return self._tracking

    def update(self, tracked: np.ndarray | None, idle: np.ndarray, t: float) -> np.ndarray:
        """The output at time ``t`` for this frame's tracked value (None when lost) and the idle value."""
        if tracked is not None:
            if not self._tracking:
                self._tracking, self._t_phase = True, t
                self._from = self._out
            if self._from is None or self.reacquire_s == 0:
                out = np.array(tracked, np.float64)
            else:
                w = smoothstep((t - self._t_phase) / self.reacquire_s)
                out = self._from + w * (tracked - self._from)
                if w >= 1.0:
                    self._from = None
        else:
            if self._tracking or self._from is None:
                self._tracking, self._t_phase = False, t
                self._from = self._out if self._out is not None else np.array(idle, np.float64)
            since = t - self._t_phase - self.hold_s
            w = 0.0 if since <= 0 else (1.0 if self.ease_s == 0 else smoothstep(since / self.ease_s))
            out = self._from + w * (np.asarray(idle, np.float64) - self._from)
        self._out = out
        return out
