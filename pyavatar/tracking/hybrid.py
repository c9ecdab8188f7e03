"""Hybrid motion: the mouth from audio, head, eyes and brows from video, with an automatic lip switch.

Per region (:data:`~pyavatar.tracking.regions.REGIONS`) a weight says how much
comes from the video (1) and how much from the audio-driven motion (0); the
defaults take the mouth from audio and the rest from video. Weights can be set
while running (:meth:`HybridMixer.set_weight`). Emotion weights always come
from the audio side (its emotion controls).

Lip switch (like VSeeFace's audio/camera lip-sync switch): when the audio is
silent and the tracked mouth is open, the mouth follows the video; when the
mouth is meant to follow the video but the face is lost or its mouth is shut
while the audio speaks, it follows the audio. The switch crossfades over
``switch_s`` so the mouth never jumps.
"""

from __future__ import annotations

import threading

import numpy as np

from pyavatar.face.params import NAMES, FaceParams
from pyavatar.tracking.regions import REGIONS, check_weights

DEFAULT_WEIGHTS = {"head": 1.0, "eyes": 1.0, "brows": 1.0, "mouth": 0.0, "expression": 1.0}
_INDEX = {n: i for i, n in enumerate(NAMES)}
_MOUTH = [_INDEX[n] for n in REGIONS["mouth"]]


class HybridMixer:
    """Mixes one audio-driven and one video-tracked FaceParams frame at a time (see the module docstring).

    Args:
        weights: video share per region (missing regions keep :data:`DEFAULT_WEIGHTS`).
        fallback: enable the automatic lip switch.
        speaking_threshold: audio ``speaking`` (0..1 gate) above which the audio counts as speech.
        mouth_open: tracked ``jaw_open`` above which the video mouth counts as moving.
        switch_s: crossfade time of the lip switch.
    """

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        *,
        fallback: bool = True,
        speaking_threshold: float = 0.5,
        mouth_open: float = 0.12,
        switch_s: float = 0.15,
    ) -> None:
        if switch_s <= 0:
            raise ValueError(f"switch_s must be > 0, got {switch_s}")
        self._lock = threading.Lock()
        self._weights = {**DEFAULT_WEIGHTS, **check_weights(weights or {})}
        self.fallback = fallback
        self.speaking_threshold, self.mouth_open, self.switch_s = speaking_threshold, mouth_open, switch_s
        self._mouth_share: float | None = None
        self._t: float | None = None

    @property
    def weights(self) -> dict[str, float]:
        """Current video share per region."""
        with self._lock:
            return dict(self._weights)

    def set_weight(self, region: str, value: float) -> None:
        """Set one region's video share (0 audio … 1 video), effective from the next frame."""
        checked = check_weights({region: value})
        with self._lock:
            self._weights.update(checked)

    @property
    def mouth_share(self) -> float:
        """The video share of the mouth after the lip switch (last frame)."""
        return self.weights["mouth"] if self._mouth_share is None else self._mouth_share

    def _mouth_target(self, base: float, video: FaceParams, speaking: float, video_found: bool) -> float:
        if not self.fallback:
            return base
        talking = speaking >= self.speaking_threshold
        video_moving = video_found and float(video.jaw_open[0]) >= self.mouth_open
        if base < 0.5 and not talking and video_moving:
            return 1.0  # silent audio, moving mouth on camera: lips from video
        if base >= 0.5 and talking and not video_moving:
            return 0.0  # camera mouth lost or shut while speaking: lips from audio
        return base

    def mix(self, audio: FaceParams, video: FaceParams, *, speaking: float, video_found: bool, t: float) -> FaceParams:
        """One mixed frame at time ``t`` s from one frame of each source."""
        weights = self.weights
        share = np.zeros(len(NAMES))
        for region, fields in REGIONS.items():
            share[[_INDEX[f] for f in fields]] = weights[region]
        target = self._mouth_target(weights["mouth"], video, speaking, video_found)
        if self._mouth_share is None or self._t is None:
            self._mouth_share = target
        else:
            step = max(0.0, t - self._t) / self.switch_s
            self._mouth_share += float(np.clip(target - self._mouth_share, -step, step))
        self._t = t
        share[_MOUTH] = self._mouth_share
        a, v = audio.values[0].astype(np.float64), video.values[0].astype(np.float64)
        return FaceParams.from_array(a + share * (v - a))
