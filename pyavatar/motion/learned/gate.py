"""Noise-floor gate for the learned mouth: the model's mouth opens only where the audio is above the noise floor.

The rule is the DSP engine's (:class:`pyavatar.motion.lips.engine.DspLipEngine`):
per 10 ms frame, the noise floor is the minimum level of the last
``floor_window`` seconds; the gate opens at ``floor + gate_margin_db`` (never
below ``gate_min_db``) and closes once the level stays 4 dB under that. Margins
come from :class:`~pyavatar.motion.lips.engine.LipSettings` for the gate's
``sensitivity``. With ``range_db`` > 0 an open frame also counts only in part
when its level is near the bottom of the range below the stream's decaying peak
(the DSP engine's 1 dB/s): ``clip((level - peak + range_db) / soft_db, 0, 1)``,
so decaying tails after speech close the mouth. The learned engine multiplies its
mouth outputs for row ``t`` by the largest such value in ``[t - hold, t + lead]``
(``lead`` at most the model's look-ahead, so the gate adds no latency).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from pyavatar.motion.lips.engine import LipSettings

_HYSTERESIS_DB = 4.0
_CAST = {"enabled": bool, "sensitivity": float, "lead": int, "hold": int, "range_db": float, "soft_db": float}


@dataclass(frozen=True)
class GateConfig:
    """Settings of the learned engine's gate (``lead``/``hold`` in 10 ms frames); ``enabled=False`` turns it off.

    The defaults were chosen on validation voices (espeak-ng en+m3/de+f5/es+f1 and unseen prompts of the
    training speaker) for the session-3 MouthNet run; see ``benchmarks/LIPSYNC.md``.
    """

    enabled: bool = True
    sensitivity: float = 1.0
    lead: int = 2
    hold: int = 3
    range_db: float = 25.0
    soft_db: float = 12.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sensitivity <= 1.0:
            raise ValueError(f"gate sensitivity must be within 0..1, got {self.sensitivity}")
        if self.lead < 0 or self.hold < 0:
            raise ValueError(f"gate lead and hold must be >= 0 frames, got {self.lead} and {self.hold}")
        if self.range_db < 0 or self.soft_db <= 0:
            raise ValueError(f"gate range_db must be >= 0 and soft_db > 0, got {self.range_db} and {self.soft_db}")

    def to_dict(self) -> dict:
        """The JSON object stored under ``gate`` in a model's config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict, where: str) -> GateConfig:
        """A gate from a JSON object; ``where`` (the file) is named in errors."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(obj) - known)
        if bad:
            raise ValueError(f"{where}: unknown gate keys {bad}; known: {sorted(known)}")
        try:
            return cls(**{k: _CAST[k](v) for k, v in obj.items()})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: gate: {e}") from None


class NoiseGate:
    """Streaming gate value (0..1) per 10 ms frame from its RMS level (see the module docstring)."""

    def __init__(self, sensitivity: float = 0.6, range_db: float = 0.0, soft_db: float = 10.0) -> None:
        s = LipSettings(sensitivity=sensitivity)
        self.margin_db, self.min_db = s.gate_margin_db, s.gate_min_db
        self.range_db, self.soft_db = range_db, soft_db
        self._decay = s.peak_decay_db_per_s * 0.01
        self._n = max(1, round(s.floor_window / 0.01))
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._history: deque[float] = deque(maxlen=self._n)
        self._open = False
        self._peak = -200.0

    def process(self, rms: np.ndarray) -> np.ndarray:
        """Gate values of the next frames with linear RMS ``rms``: 0 closed, 1 open (partly open near the range)."""
        db = 20 * np.log10(np.asarray(rms, np.float64) + 1e-9)
        out = np.zeros(len(db))
        for k, v in enumerate(db):
            self._history.append(float(v))
            threshold = max(min(self._history) + self.margin_db, self.min_db)
            if v >= threshold:
                self._open = True
            elif v < threshold - _HYSTERESIS_DB:
                self._open = False
            self._peak = max(float(v), self._peak - self._decay)
            soft = 1.0 if self.range_db <= 0 else min(1.0, max(0.0, (v - self._peak + self.range_db) / self.soft_db))
            out[k] = soft if self._open else 0.0
        return out


class GateWindow:
    """Per output row ``t``: was the gate open anywhere in ``[t - hold, t + lead]``? (streaming)."""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self.gate = NoiseGate(cfg.sensitivity, cfg.range_db, cfg.soft_db)
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self.gate.reset()
        self._flags = np.zeros(0)  # gate values of frames _first.. (kept back to the next row - hold)
        self._first = 0
        self._next = 0  # next output row

    def push(self, rms: np.ndarray) -> None:
        """Add the RMS of the next input frames."""
        self._flags = np.concatenate([self._flags, self.gate.process(rms)])

    def take(self, n: int) -> np.ndarray:
        """Gate values (0..1) of the next ``n`` output rows; frames not yet pushed count as closed."""
        out = np.zeros(n)
        end = self._first + len(self._flags)
        for j in range(n):
            t = self._next + j
            a, b = max(t - self.cfg.hold, self._first), min(t + self.cfg.lead + 1, end)
            out[j] = self._flags[a - self._first : b - self._first].max() if b > a else 0.0
        self._next += n
        keep = max(self._next - self.cfg.hold, self._first)
        self._flags = self._flags[keep - self._first :]
        self._first = keep
        return out
