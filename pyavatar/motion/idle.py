"""Procedural idle and non-verbal motion: blinks, gaze, head sway, breathing, prosody nods and tilts.

Everything is driven by one seeded generator, so a seed and the same inputs
give the same motion. :meth:`IdleMotion.generate` is streaming: state carries
over between calls, so one long call equals many short ones.

- Blinks: intervals drawn around ``blink_rate`` per minute (clamped 1-8 s),
  100-200 ms long (40 % closing, 60 % opening); when a phrase ends (speaking
  1 → 0) a blink follows within 0.1-0.4 s with probability 0.6.
- Gaze: saccades every 0.4-3 s to a point within ±6° yaw / ±4° pitch, done in
  ~40 ms, plus slow drift.
- Head: Ornstein-Uhlenbeck sway on yaw/pitch/roll (larger while speaking),
  breathing at 12-16 breaths/min on head_y and head_pitch, a nod (pitch bump,
  0.3 s) on energy accents while speaking and a roll tilt following pitch
  (f0) relative to the speaker's running mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyavatar.face.params import FaceParams

IDLE_FIELDS = ("head_yaw", "head_pitch", "head_roll", "head_y", "gaze_yaw", "gaze_pitch", "blink_left", "blink_right")


@dataclass
class IdleSettings:
    """Amplitudes (degrees unless noted) and rates of :class:`IdleMotion`."""

    blink_rate: float = 16.0  # per minute
    sway_deg: tuple[float, float, float] = (2.0, 1.5, 1.0)  # yaw, pitch, roll std
    sway_tau: float = 2.0
    speaking_sway_gain: float = 1.5
    breath_head_y: float = 0.004  # face heights
    breath_pitch: float = 0.4
    nod_deg: float = 3.0
    tilt_deg_per_semitone: float = 0.5
    saccade_yaw: float = 6.0
    saccade_pitch: float = 4.0


class IdleMotion:
    """Streaming idle-motion generator at ``fps``."""

    def __init__(self, fps: float = 25.0, seed: int = 0, settings: IdleSettings | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.dt = 1.0 / self.fps
        self.settings = settings or IdleSettings()
        self._rng = np.random.default_rng(seed)
        self._t = 0.0
        self._next_blink = self._blink_interval()
        self._blink_start = -1.0
        self._blink_len = 0.15
        self._last_speaking = 0.0
        self._sway = np.zeros(3)
        self._breath_rate = float(self._rng.uniform(12, 16)) / 60.0
        self._breath_phase = float(self._rng.uniform(0, 2 * np.pi))
        self._gaze = np.zeros(2)
        self._gaze_target = np.zeros(2)
        self._drift = np.zeros(2)
        self._next_saccade = float(self._rng.uniform(0.4, 3.0))
        self._energy_mean = -40.0
        self._f0_mean = 0.0
        self._nod_start = -10.0
        self._nod_gain = 0.0
        self._tilt = 0.0

    def _blink_interval(self) -> float:
        mean = 60.0 / self.settings.blink_rate
        return float(np.clip(self._rng.gamma(4.0, mean / 4.0), 1.0, 8.0))

    def _blink_value(self) -> float:
        u = (self._t - self._blink_start) / self._blink_len
        if self._blink_start < 0 or not 0.0 <= u < 1.0:
            return 0.0
        return float(np.sin(0.5 * np.pi * u / 0.4)) if u < 0.4 else float(np.cos(0.5 * np.pi * (u - 0.4) / 0.6))

    def _start_blink(self) -> None:
        self._blink_start = self._t
        self._blink_len = float(self._rng.uniform(0.1, 0.2))
        self._next_blink = self._t + self._blink_len + self._blink_interval()

    def _frame(self, speaking: float, f0: float, energy_db: float) -> list[float]:
        s, dt, rng = self.settings, self.dt, self._rng
        # blinks, more at phrase ends
        phrase_end = self._last_speaking >= 0.5 > speaking
        self._last_speaking = speaking
        if phrase_end and self._t - self._blink_start > 0.8 and rng.random() < 0.6:
            self._next_blink = min(self._next_blink, self._t + float(rng.uniform(0.1, 0.4)))
        if self._t >= self._next_blink:
            self._start_blink()
        blink = self._blink_value()
        # head sway (Ornstein-Uhlenbeck) and breathing
        a = np.exp(-dt / s.sway_tau)
        amp = np.asarray(s.sway_deg) * (s.speaking_sway_gain if speaking >= 0.5 else 1.0)
        self._sway = a * self._sway + np.sqrt(1 - a * a) * amp * rng.standard_normal(3)
        breath = np.sin(2 * np.pi * self._breath_rate * self._t + self._breath_phase)
        # prosody: nods on energy accents, tilt with pitch
        if speaking >= 0.5:
            if energy_db > self._energy_mean + 6.0 and self._t - self._nod_start > 0.6:
                self._nod_start = self._t
                self._nod_gain = float(np.clip((energy_db - self._energy_mean - 6.0) / 6.0, 0.3, 1.0))
            self._energy_mean += 0.02 * (energy_db - self._energy_mean)
            if f0 > 0:
                self._f0_mean = f0 if self._f0_mean <= 0 else self._f0_mean + 0.02 * (f0 - self._f0_mean)
                semis = 12.0 * np.log2(f0 / self._f0_mean)
                self._tilt += 0.1 * (float(np.clip(semis, -6, 6)) * s.tilt_deg_per_semitone - self._tilt)
        else:
            self._tilt *= 0.95
        u = (self._t - self._nod_start) / 0.3
        nod = s.nod_deg * self._nod_gain * float(np.sin(np.pi * u)) if 0.0 <= u < 1.0 else 0.0
        # gaze: saccades and drift
        if self._t >= self._next_saccade:
            centre = rng.random() < 0.3  # gaze returns to the viewer now and then
            self._gaze_target = (
                np.zeros(2)
                if centre
                else np.array(
                    [rng.uniform(-s.saccade_yaw, s.saccade_yaw), rng.uniform(-s.saccade_pitch, s.saccade_pitch)]
                )
            )
            self._next_saccade = self._t + float(rng.uniform(0.4, 3.0))
        self._gaze += (self._gaze_target - self._gaze) * min(1.0, dt / 0.04)
        self._drift = 0.98 * self._drift + 0.1 * rng.standard_normal(2)
        self._t += dt
        gaze = self._gaze + self._drift
        return [
            float(self._sway[0]),
            float(self._sway[1] + s.breath_pitch * breath + nod),
            float(self._sway[2] + self._tilt),
            float(s.breath_head_y * breath),
            float(gaze[0]),
            float(gaze[1]),
            blink,
            blink,
        ]

    def generate(
        self,
        n: int,
        speaking: np.ndarray | None = None,
        f0: np.ndarray | None = None,
        energy_db: np.ndarray | None = None,
    ) -> FaceParams:
        """The next ``n`` frames, given per-frame speaking (0..1), f0 (Hz, 0 unvoiced) and energy (dBFS)."""
        speaking = np.zeros(n) if speaking is None else np.asarray(speaking, dtype=np.float64)
        f0 = np.zeros(n) if f0 is None else np.asarray(f0, dtype=np.float64)
        energy_db = np.full(n, -80.0) if energy_db is None else np.asarray(energy_db, dtype=np.float64)
        for name, arr in (("speaking", speaking), ("f0", f0), ("energy_db", energy_db)):
            if arr.shape != (n,):
                raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
        rows = [self._frame(float(speaking[i]), float(f0[i]), float(energy_db[i])) for i in range(n)]
        values = np.asarray(rows, dtype=np.float64).reshape(n, len(IDLE_FIELDS))
        return FaceParams.from_fields(n, **{k: values[:, j] for j, k in enumerate(IDLE_FIELDS)})
