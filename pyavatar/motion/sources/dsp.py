"""The ``dsp`` motion source: DSP lip sync + idle motion + emotion (no weights, the default).

Audio chunks at any sample rate become :class:`~pyavatar.packets.MotionFrame` s
at ``fps``; every control applies from the next frame.
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
from pyavatar.motion.registry import CONTROLS
from pyavatar.motion.sources.base import refuse
from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk, LipChunk, MotionFrame

_I = {n: i for i, n in enumerate(NAMES)}
_MOUTH = [_I["jaw_open"], _I["mouth_wide"], _I["mouth_round"]]
_ANGLES = [_I["head_pitch"], _I["head_yaw"], _I["head_roll"]]


class DspMotionSource:
    """Streaming audio → motion frames with the DSP lip engine.

    Args:
        fps: motion frame rate.
        seed: idle-motion seed (same seed and audio → same motion).
        profile: vowel profile (object or JSON path from ``pyavatar calibrate``); None = the shipped one.
        lip_settings: noise gate and smoothing of the lip engine.
    """

    name = "dsp"
    controls = frozenset(CONTROLS)

    def __init__(
        self,
        fps: float = 30.0,
        *,
        seed: int = 0,
        profile: VowelProfile | str | Path | None = None,
        lip_settings: LipSettings | None = None,
    ) -> None:
        self.fps = float(fps)
        if isinstance(profile, (str, Path)):
            profile = load_profile(profile)
        self._lips = DspLipEngine(profile, fps=self.fps, settings=lip_settings)
        self._idle = IdleMotion(self.fps, seed=seed)
        self._emotion = EmotionMix(self.fps)
        self.emotion, self.intensity, self._upper = "neutral", 1.0, None
        self.lip_scale = 1.0
        self.gaze: tuple[float, float] | None = None
        self.head_amplitude = 1.0
        self.head_pose: tuple[float, float, float] | None = None
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
    def lip_engine(self) -> DspLipEngine:
        """The streaming lip engine (100 Hz features → LipChunk), e.g. for the lip-sync evaluation."""
        return self._lips

    @property
    def latency_s(self) -> float:
        """Audio needed past a frame's centre before the frame is produced (lip engine look-ahead)."""
        return self._lips.latency_s

    def stats(self) -> dict[str, Any]:
        """The source's algorithmic latency (it has no windows)."""
        return {"source": self.name, "latency_ms": self.latency_s * 1e3}

    # ------------------------------------------------------------------ control

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """ValueError for an unknown control or emotion name."""
        if name not in self.controls:
            raise refuse(self.name, name, self.controls)
        if name == "emotion":
            for emotion in (values["name"], values.get("upper")):
                if emotion is not None and emotion not in PRESET_NAMES:
                    raise ValueError(f"unknown emotion {emotion!r}; choose from {list(PRESET_NAMES)}")

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a control from the next frame."""
        self.check_control(name, values)
        if name == "emotion":
            self.emotion, self.intensity, self._upper = values["name"], values["intensity"], values.get("upper")
            self._emotion.set(self.emotion, self.intensity, upper=self._upper)
        elif name == "intensity":
            self.intensity = values["intensity"]
            self._emotion.set(self.emotion, self.intensity, upper=self._upper)
        elif name == "lip_scale":
            self.lip_scale = float(values["scale"])
        elif name == "gaze":
            self.gaze = None if values["yaw"] is None else (float(values["yaw"]), float(values["pitch"]))
        elif name == "mute":
            self._lips.muted = bool(values["muted"])
        elif name == "head_amplitude":
            self.head_amplitude = float(values["amplitude"])
        elif name == "head_pose":
            pose = (values["pitch"], values["yaw"], values["roll"])
            self.head_pose = None if pose[0] is None else tuple(float(v) for v in pose)  # type: ignore[assignment]

    def jump_emotion(self) -> None:
        """Show the current emotion target at once (the session's starting emotion)."""
        self._emotion.jump()

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
            raise RuntimeError(f"dsp motion: lip and prosody frame counts disagree ({n} vs {got})")
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
        if self.head_amplitude != 1.0 or self.head_pose is not None:
            center = np.asarray(self.head_pose if self.head_pose is not None else (0.0, 0.0, 0.0), np.float32)
            values[:, _ANGLES] = center + self.head_amplitude * values[:, _ANGLES]
        assert self._origin_ns is not None
        out = []
        for i in range(n):
            pts = lips.pts_ns + round(i * NS_PER_S / self.fps)
            capture = pts + round(0.5 * NS_PER_S / self.fps) if self._live else -1
            index = round((pts - self._origin_ns) * self.fps / NS_PER_S)
            out.append(
                MotionFrame(
                    index,
                    pts,
                    self.fps,
                    capture,
                    values[i],
                    visemes[i],
                    float(lips.speaking[i]),
                    self.emotion,
                    self.intensity,
                )
            )
        return out
