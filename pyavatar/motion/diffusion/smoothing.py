"""Streaming pose smoothing: One-Euro, constant-velocity Kalman, or EMA, per dimension."""

from __future__ import annotations

import math

import numpy as np

SMOOTHERS = ("none", "one_euro", "kalman", "ema")


class OneEuroFilter:
    """One-Euro filter (Casiez et al. 2012): cutoff rises with speed, so slow drift is smoothed and fast moves kept."""

    def __init__(self, freq: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        if freq <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"OneEuroFilter: freq, min_cutoff, d_cutoff > 0 and beta >= 0 required, "
                f"got {freq}, {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.freq, self.min_cutoff, self.beta, self.d_cutoff = freq, min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau * self.freq)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample ``x``."""
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self._x) * self.freq
        a_d = self._alpha(self.d_cutoff)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx))
        self._x = a * x + (1 - a) * self._x
        return self._x.copy()


class KalmanFilter:
    """Constant-velocity Kalman filter per dimension (process noise ``q`` on acceleration, measurement noise ``r``)."""

    def __init__(self, freq: float, q: float = 50.0, r: float = 1.0) -> None:
        if freq <= 0 or q <= 0 or r <= 0:
            raise ValueError(f"KalmanFilter: freq, q and r must be positive, got {freq}, {q}, {r}")
        dt = 1.0 / freq
        self._F = np.array([[1.0, dt], [0.0, 1.0]])
        self._Q = q * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
        self._r = r
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._s: np.ndarray | None = None  # (dim, 2) position, velocity
        self._P: np.ndarray | None = None  # (dim, 2, 2)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample ``x``."""
        x = np.asarray(x, np.float64)
        if self._s is None:
            self._s = np.stack([x, np.zeros_like(x)], axis=-1)
            self._P = np.broadcast_to(np.diag([self._r, 1e3 * self._r]), (*x.shape, 2, 2)).copy()
            return x.copy()
        s = self._s @ self._F.T
        P = self._F @ self._P @ self._F.T + self._Q
        k = P[..., :, 0] / (P[..., 0, 0] + self._r)[..., None]  # gain (dim, 2)
        s = s + k * (x - s[..., 0])[..., None]
        P = P - k[..., :, None] * P[..., None, 0, :]
        self._s, self._P = s, P
        return s[..., 0].copy()


class EMAFilter:
    """``y_k = alpha x_k + (1 - alpha) y_{k-1}`` (JoyVASA smooths head pose with alpha = 0.01)."""

    def __init__(self, alpha: float = 0.3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"EMAFilter: alpha must be within (0, 1], got {alpha}")
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._y: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample ``x``."""
        x = np.asarray(x, np.float64)
        self._y = x.copy() if self._y is None else self.alpha * x + (1 - self.alpha) * self._y
        return self._y.copy()


def make_smoother(kind: str, freq: float, **params: float) -> OneEuroFilter | KalmanFilter | EMAFilter | None:
    """A filter by name (``none`` → None); ``params`` go to its constructor."""
    if kind == "none":
        if params:
            raise ValueError(f"smoothing 'none' takes no parameters, got {sorted(params)}")
        return None
    if kind == "one_euro":
        return OneEuroFilter(freq, **params)
    if kind == "kalman":
        return KalmanFilter(freq, **params)
    if kind == "ema":
        return EMAFilter(**params)
    raise ValueError(f"unknown smoothing {kind!r}; choose from {SMOOTHERS}")
