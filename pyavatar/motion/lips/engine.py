"""DSP lip-sync engine (uLipSync-style): 100 Hz speech features → mouth shapes at video rate.

Per 10 ms frame: a noise gate with an adaptive noise floor (minimum of the
last 2 s), hysteresis and hold decides whether the speaker is talking;
loudness between the gate threshold (at most ``range_db`` below) and a slowly
decaying peak gives the opening; MFCCs matched against the profile's vowel
templates (whitened L2) give soft vowel weights; jaw opening is loudness times
the weighted openness of the vowels, reduced on unvoiced frames. Attack /
release smoothing follows, then frames are averaged into video frames.

Latency: features need 16 ms of audio past a 10 ms frame's centre; a video
frame is complete with its last 10 ms frame, so at 25 fps a frame is ready
31 ms after its centre, 21 ms at 50 fps and 19.3 ms at 60 fps. Attack smoothing
(default 5 ms) adds a response lag of about that time constant. All of it
stays under 60 ms.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pyavatar.audio.align import FrameAligner
from pyavatar.audio.features import LOOKAHEAD_S
from pyavatar.motion.lips.profile import VowelProfile, load_profile, mfcc_vector
from pyavatar.packets import NS_PER_S, OVR_VISEMES, VRM_VISEMES, FeatureChunk, LipChunk

_DT = 0.01
#: Jaw openness of each vowel viseme (aa ih ou ee oh).
OPENNESS = np.array([1.0, 0.35, 0.3, 0.55, 0.6])
#: Lip spreading (mouth_wide) and rounding (mouth_round) per vowel viseme.
WIDE = np.array([0.2, 1.0, 0.0, 0.7, 0.0])
ROUND = np.array([0.0, 0.0, 1.0, 0.0, 0.7])
_OVR_FROM_VRM = [OVR_VISEMES.index(v) for v in ("aa", "ih", "ou", "E", "oh")]


@dataclass
class LipSettings:
    """Tuning of :class:`DspLipEngine` (times in seconds, levels in dB).

    ``sensitivity`` 0..1 moves the gate: higher opens on quieter speech.
    """

    sensitivity: float = 0.6
    attack: float = 0.005
    release: float = 0.02
    viseme_smoothing: float = 0.03
    hold: float = 0.03
    floor_window: float = 2.0
    peak_decay_db_per_s: float = 1.0
    range_db: float = 30.0
    temperature: float = 1.0
    unvoiced_jaw: float = 0.45
    vowel_distance: tuple[float, float] = (8.0, 25.0)
    nonvowel_jaw: float = 0.4
    gamma: float = 1.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be within 0..1, got {self.sensitivity}")
        for name in ("attack", "release", "viseme_smoothing", "hold", "floor_window", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def gate_margin_db(self) -> float:
        """Gate opening threshold above the noise floor."""
        return 18.0 - 12.0 * self.sensitivity

    @property
    def gate_min_db(self) -> float:
        """Absolute gate threshold (dBFS) for clean, near-silent input."""
        return -50.0 - 20.0 * self.sensitivity


def _coef(tau: float) -> float:
    return float(np.exp(-_DT / tau))


class DspLipEngine:
    """Streaming processor: ``process(FeatureChunk at 100 Hz) -> LipChunk | None``, ``flush()``.

    Args:
        profile: vowel templates (the shipped default profile when ``None``).
        fps: output frame rate (25-60 typical).
        settings: gate and smoothing parameters.
        ovr: also produce the 15 OVR visemes (``sil``, the five vowels and ``SS``
            for unvoiced hiss; the other consonant visemes stay 0).
    """

    def __init__(
        self,
        profile: VowelProfile | None = None,
        *,
        fps: float = 25.0,
        settings: LipSettings | None = None,
        ovr: bool = False,
    ) -> None:
        self.profile = profile or load_profile()
        self.settings = settings or LipSettings()
        self.fps = float(fps)
        self.ovr = ovr
        self.muted = False
        self._aligner = FrameAligner(self.fps)
        self.reset()

    @property
    def latency_s(self) -> float:
        """Audio needed past a video frame's centre before the frame is produced (without smoothing lag)."""
        return 0.5 / self.fps + LOOKAHEAD_S - _DT / 2

    def reset(self) -> None:
        """Start a new stream."""
        n = max(1, round(self.settings.floor_window / _DT))
        self._history: deque[float] = deque(maxlen=n)
        self._peak = -200.0
        self._open = False
        self._hold_left = 0.0
        self._jaw = 0.0
        self._weights = np.full(len(VRM_VISEMES), 1.0 / len(VRM_VISEMES))
        self._speaking = 0.0
        self._aligner.reset()
        self._origin: int | None = None

    def _gate(self, db: float) -> tuple[bool, float]:
        """Gate state and loudness level (0..1) of one 10 ms frame of ``db`` dBFS."""
        s = self.settings
        self._history.append(db)
        floor = min(self._history)
        threshold = max(floor + s.gate_margin_db, s.gate_min_db)
        if db >= threshold:
            self._open, self._hold_left = True, s.hold
        elif db < threshold - 4.0:
            self._hold_left -= _DT
            if self._hold_left <= 0:
                self._open = False
        self._peak = max(db, self._peak - s.peak_decay_db_per_s * _DT)
        bottom = min(max(threshold - 4.0, self._peak - s.range_db), self._peak - 6.0)
        level = float(np.clip((db - bottom) / (self._peak - bottom), 0.0, 1.0))
        return self._open and not self.muted, level

    def _frames(self, feats: FeatureChunk) -> np.ndarray:
        """(T, D) per-10 ms rows: visemes(5), jaw, wide, round, speaking[, ovr(15)]."""
        s = self.settings
        dist = self.profile.distances(mfcc_vector(feats.mfcc))
        d0, d1 = s.vowel_distance  # frames far from every vowel template (consonants) open less
        vowelness = np.clip((d1 - dist.min(axis=1)) / (d1 - d0), 0.0, 1.0)
        shape = s.nonvowel_jaw + (1 - s.nonvowel_jaw) * vowelness
        logits = -(dist - dist.min(axis=1, keepdims=True)) / s.temperature
        post = np.exp(logits)
        post /= post.sum(axis=1, keepdims=True)
        db = 20 * np.log10(feats.rms.astype(np.float64) + 1e-9)
        a_up, a_down, a_vis = _coef(s.attack), _coef(s.release), _coef(s.viseme_smoothing)
        a_speak = _coef(0.04)
        rows = []
        for k in range(len(feats)):
            talking, level = self._gate(float(db[k]))
            voicing = float(feats.voicing[k])
            openness = float(post[k] @ OPENNESS)
            voiced = s.unvoiced_jaw + (1 - s.unvoiced_jaw) * voicing
            target = level**s.gamma * openness * voiced * float(shape[k]) if talking else 0.0
            a = a_up if target > self._jaw else a_down
            self._jaw = a * self._jaw + (1 - a) * target
            if talking:
                self._weights = a_vis * self._weights + (1 - a_vis) * post[k]
            self._speaking = a_speak * self._speaking + (1 - a_speak) * float(talking)
            gain = min(1.0, self._jaw * 1.5)  # shapes fade with the jaw so a closed mouth shows none
            vis = self._weights * gain
            row = [
                *vis,
                self._jaw,
                float(self._weights @ WIDE) * gain,
                float(self._weights @ ROUND) * gain,
                self._speaking,
            ]
            if self.ovr:
                ovr = np.zeros(len(OVR_VISEMES))
                ovr[_OVR_FROM_VRM] = vis
                ovr[OVR_VISEMES.index("SS")] = self._speaking * (1.0 - voicing) * level
                ovr[OVR_VISEMES.index("sil")] = 1.0 - self._speaking
                row += list(ovr)
            rows.append(row)
        width = 9 + (len(OVR_VISEMES) if self.ovr else 0)
        return np.asarray(rows, dtype=np.float64).reshape(-1, width)

    def _pack(self, rows: np.ndarray, first: int) -> LipChunk | None:
        if not len(rows):
            return None
        assert self._origin is not None
        f = np.ascontiguousarray(rows, dtype=np.float32)
        return LipChunk(
            self._origin + round(first * NS_PER_S / self.fps),
            self.fps,
            f[:, :5],
            f[:, 5],
            f[:, 6],
            f[:, 7],
            f[:, 8],
            f[:, 9:] if self.ovr else None,
        )

    def process(self, feats: FeatureChunk) -> LipChunk | None:
        """Video frames completed by ``feats`` (100 Hz features)."""
        if abs(feats.frame_rate - 1 / _DT) > 1e-6:
            raise ValueError(f"DspLipEngine needs 100 Hz features, got {feats.frame_rate} Hz")
        if self._origin is None:
            self._origin = feats.pts_ns
        first = self._aligner.next_frame
        return self._pack(self._aligner.process(self._frames(feats)), first)

    def flush(self) -> LipChunk | None:
        """The final partial video frame; resets the engine."""
        if self._origin is None:
            return None
        first = self._aligner.next_frame
        out = self._pack(self._aligner.flush(), first)
        self.reset()
        return out
