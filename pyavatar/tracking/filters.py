"""The One-Euro filter (Casiez et al. 2012): little lag on fast motion, strong smoothing when still."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroSettings:
    """One-Euro parameters, in units of each channel's ``scale`` (so degrees and 0..1 values share them).

    Attributes:
        min_cutoff: cutoff (Hz) when the signal is still; lower = smoother, more lag.
        beta: how fast the cutoff rises with speed (per scale unit/s); higher = less lag on fast motion.
        d_cutoff: cutoff (Hz) of the speed estimate.
    """

    min_cutoff: float = 1.5
    beta: float = 0.5
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OneEuroSettings.{name} must be > 0, got {getattr(self, name)}")
        if self.beta < 0:
            raise ValueError(f"OneEuroSettings.beta must be >= 0, got {self.beta}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vector One-Euro filter over C channels; ``settings`` may differ per channel.

    Args:
        scale: (C,) unit of each channel (the filter sees ``value / scale``).
        settings: one setting for all channels, or one per channel.
    """

    def __init__(self, scale: np.ndarray, settings: OneEuroSettings | list[OneEuroSettings]) -> None:
        self.scale = np.asarray(scale, np.float64)
        per = settings if isinstance(settings, list) else [settings] * len(self.scale)
        if len(per) != len(self.scale):
            raise ValueError(f"OneEuroFilter: {len(per)} settings for {len(self.scale)} channels")
        self.min_cutoff = np.array([s.min_cutoff for s in per])
        self.beta = np.array([s.beta for s in per])
        self.d_cutoff = np.array([s.d_cutoff for s in per])
        self._x: np.ndarray | None = None
        self._dx = np.zeros_like(self.scale)
        self._t = 0.0

    def reset(self) -> None:
        """Forget the history (the next value passes through unchanged)."""
        self._x = None

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        """The filtered value at time ``t`` seconds (must increase)."""
        x = np.asarray(value, np.float64) / self.scale
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x * self.scale
        dt = t - self._t
        if dt <= 0:
            return self._x * self.scale
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = self._dx + a_d * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x * self.scale
