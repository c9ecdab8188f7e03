"""Audio → face motion for the runtime: speech features, DSP lip sync, idle motion and emotion.

:class:`FaceMotion` is the runtime's motion processor: it turns audio chunks at
any sample rate into :class:`~pyavatar.runtime.frames.MotionFrame` s at ``fps``
and applies the motion control events (emotion, intensity, lip scale, gaze,
mute) from its next frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.audio.align import FeatureAligner
from pyavatar.audio.analyzer import SpeechAnalyzer
from pyavatar.face.params import NAMES
from pyavatar.motion.compose import compose
from pyavatar.motion.emotion import PRESET_NAMES, EmotionMix
from pyavatar.motion.idle import IdleMotion
from pyavatar.motion.lips import DspLipEngine, LipSettings, VowelProfile, load_profile
from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk, LipChunk
from pyavatar.runtime import control as ctl
from pyavatar.runtime.frames import MotionFrame

_I = {n: i for i, n in enumerate(NAMES)}
_MOUTH = [_I["jaw_open"], _I["mouth_wide"], _I["mouth_round"]]


class FaceMotion:
    """Streaming audio → motion frames.

    Args:
        fps: motion frame rate.
        profile: vowel profile (object or JSON path from ``pyavatar calibrate``); None = the shipped one.
        lip_settings: noise gate and smoothing of the lip engine.
        seed: idle-motion seed (same seed and audio → same motion).
        emotion, intensity: the starting emotion.
        lip_scale: mouth opening gain (0..3).
    """

    def __init__(
        self, fps: float = 30.0, *, profile: VowelProfile | str | Path | None = None,
        lip_settings: LipSettings | None = None, seed: int = 0, emotion: str = "neutral", intensity: float = 1.0,
        lip_scale: float = 1.0,
    ) -> None:  # fmt: skip
        self.fps = float(fps)
        if isinstance(profile, (str, Path)):
            profile = load_profile(profile)
        self._lips = DspLipEngine(profile, fps=self.fps, settings=lip_settings)
        self._idle = IdleMotion(self.fps, seed=seed)
        self._emotion = EmotionMix(self.fps)
        self.emotion, self.intensity, self._upper = "neutral", float(intensity), None
        self.apply_control(ctl.SetEmotion(emotion, intensity))
        self._emotion.jump()
        self.lip_scale = ctl.SetLipScale(lip_scale).scale
        self.gaze: tuple[float, float] | None = None
        self._analyzer: SpeechAnalyzer | None = None
        self._prosody = FeatureAligner(self.fps)
        self._rate = 0
        self._origin_ns: int | None = None  # stream time of frame index 0 (first chunk of the session)
        self._live = False

    @property
    def muted(self) -> bool:
        """Whether the mouth ignores the audio."""
        return self._lips.muted

    @property
    def latency_s(self) -> float:
        """Audio needed past a frame's centre before the frame is produced (lip engine look-ahead)."""
        return self._lips.latency_s

    # ------------------------------------------------------------------ control

    def check_control(self, event: Any) -> None:
        """Raise ValueError if ``event`` names an unknown emotion."""
        if isinstance(event, ctl.SetEmotion):
            for name in (event.name, event.upper):
                if name is not None and name not in PRESET_NAMES:
                    raise ValueError(f"unknown emotion {name!r}; choose from {list(PRESET_NAMES)}")

    def apply_control(self, event: Any) -> None:
        """Apply a motion control event from the next frame."""
        self.check_control(event)
        if isinstance(event, ctl.SetEmotion):
            self.emotion, self.intensity, self._upper = event.name, event.intensity, event.upper
            self._emotion.set(event.name, event.intensity, upper=event.upper)
        elif isinstance(event, ctl.SetIntensity):
            self.intensity = event.intensity
            self._emotion.set(self.emotion, event.intensity, upper=self._upper)
        elif isinstance(event, ctl.SetLipScale):
            self.lip_scale = event.scale
        elif isinstance(event, ctl.SetGaze):
            self.gaze = None if event.yaw is None else (float(event.yaw), float(event.pitch))  # type: ignore[arg-type]
        elif isinstance(event, ctl.SetMute):
            self._lips.muted = bool(event.muted)
        else:
            raise ValueError(f"FaceMotion cannot apply {event!r}")

    # ---------------------------------------------------------------- streaming

    def reset(self) -> None:
        """Start a new audio stream (idle motion, emotion and controls carry on)."""
        self._analyzer = None
        self._lips.reset()
        self._prosody = FeatureAligner(self.fps)

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Frames completed by ``chunk``; live chunks carry clock timestamps, so frames get capture times."""
        self._live = live
        if self._origin_ns is None:
            self._origin_ns = chunk.pts_ns
        if self._analyzer is None or chunk.sample_rate != self._rate:
            if self._analyzer is not None:  # the rate changed mid-session: a new stream
                self.reset()
            self._analyzer = SpeechAnalyzer(chunk.sample_rate)
            self._rate = chunk.sample_rate
        feats = self._analyzer.process(chunk)
        return self._from_features(feats) if feats is not None else []

    def flush(self) -> list[MotionFrame]:
        """Frames of the stream's tail; then a new stream starts."""
        frames: list[MotionFrame] = []
        if self._analyzer is not None:
            tail = self._analyzer.flush()
            if tail is not None and len(tail):
                frames += self._from_features(tail)
            frames += self._frames(self._lips.flush(), self._prosody.flush())
        self.reset()
        return frames

    def _from_features(self, feats: FeatureChunk) -> list[MotionFrame]:
        return self._frames(self._lips.process(feats), self._prosody.process(feats))

    def _frames(self, lips: LipChunk | None, prosody: FeatureChunk | None) -> list[MotionFrame]:
        if lips is None:
            return []
        n = len(lips)
        if prosody is None or len(prosody) != n:
            got = 0 if prosody is None else len(prosody)
            raise RuntimeError(f"FaceMotion: lip and prosody frame counts disagree ({n} vs {got})")
        energy = 20.0 * np.log10(prosody.rms.astype(np.float64) + 1e-9)
        idle = self._idle.generate(n, lips.speaking, prosody.f0, energy)
        face = compose(lips, idle, self._emotion.generate(n))
        values = face.values.copy()
        visemes = lips.visemes.copy()
        if self.lip_scale != 1.0:
            values[:, _MOUTH] = np.clip(values[:, _MOUTH] * self.lip_scale, 0.0, 1.0)
            visemes = np.clip(visemes * self.lip_scale, 0.0, 1.0).astype(np.float32)
        if self.gaze is not None:
            values[:, _I["gaze_yaw"]], values[:, _I["gaze_pitch"]] = self.gaze
        assert self._origin_ns is not None
        out = []
        for i in range(n):
            pts = lips.pts_ns + round(i * NS_PER_S / self.fps)
            capture = pts + round(0.5 * NS_PER_S / self.fps) if self._live else -1
            index = round((pts - self._origin_ns) * self.fps / NS_PER_S)
            out.append(MotionFrame(index, pts, self.fps, capture, values[i], visemes[i], float(lips.speaking[i]),
                                   self.emotion, self.intensity))  # fmt: skip
        return out
