"""VideoMotion: the streaming object a motion-registry adapter wraps.

Video frames (and, in hybrid mode, the audio-driven motion of the same
instant) in, one FaceParams frame out. It has no look-ahead
(:attr:`VideoMotion.latency_s` = 0; the One-Euro filter's lag is speed
dependent and small) and names its live controls in :attr:`VideoMotion.controls`.
"""

from __future__ import annotations

import numpy as np

from pyavatar.face.params import FaceParams
from pyavatar.tracking.hybrid import HybridMixer
from pyavatar.tracking.reference import emotion_offsets
from pyavatar.tracking.regions import REGIONS
from pyavatar.tracking.tracker import FaceTracker, TrackedFrame, TrackerSettings


class VideoMotion:
    """Tracked motion, optionally mixed with audio motion and offset by a reference expression.

    Args:
        settings: tracker settings.
        hybrid: mix with audio-driven motion (``process(..., audio=...)`` then required).
        expression: a reference expression (:func:`~pyavatar.tracking.reference.reference_expression`)
            added to the result with ``intensity`` and per-region ``expression_regions``.
        tracker: an existing tracker (default: a new one with ``settings``).
    """

    latency_s = 0.0

    def __init__(
        self,
        settings: TrackerSettings | None = None,
        *,
        hybrid: HybridMixer | None = None,
        expression: dict[str, float] | None = None,
        intensity: float = 1.0,
        expression_regions: dict[str, float] | None = None,
        tracker: FaceTracker | None = None,
    ) -> None:
        self.tracker = tracker or FaceTracker(settings)
        self.hybrid = hybrid
        self.expression = dict(expression or {})
        self.intensity = float(intensity)
        self.expression_regions = dict(expression_regions or {})
        emotion_offsets(self.expression, 1, intensity=self.intensity, regions=self.expression_regions)  # validate
        self.last: TrackedFrame | None = None

    @property
    def controls(self) -> tuple[str, ...]:
        """Names :meth:`set_control` accepts."""
        names = ["intensity"] + [f"expression.{r}" for r in REGIONS]
        if self.hybrid is not None:
            names += [f"weight.{r}" for r in REGIONS]
        return tuple(names)

    def set_control(self, name: str, value: float) -> None:
        """Set a live control (see :attr:`controls`); values are validated."""
        if name not in self.controls:
            raise ValueError(f"unknown video-motion control {name!r}; controls: {', '.join(self.controls)}")
        if name == "intensity":
            emotion_offsets(self.expression, 1, intensity=float(value))
            self.intensity = float(value)
        elif name.startswith("expression."):
            regions = {**self.expression_regions, name.split(".", 1)[1]: float(value)}
            emotion_offsets(self.expression, 1, regions=regions)
            self.expression_regions = regions
        else:
            assert self.hybrid is not None
            self.hybrid.set_weight(name.split(".", 1)[1], float(value))

    def process(
        self,
        rgb: np.ndarray,
        t: float,
        *,
        audio: FaceParams | None = None,
        speaking: float = 0.0,
        idle: FaceParams | None = None,
    ) -> FaceParams:
        """One output frame for the video frame at ``t`` s (and the audio motion of that instant in hybrid mode)."""
        if self.hybrid is not None and audio is None:
            raise ValueError("hybrid video motion needs the audio motion of each frame (audio=...)")
        self.last = tracked = self.tracker.process(rgb, t, idle=idle)
        return self.mix(tracked.params, t, audio=audio, speaking=speaking, found=tracked.found)

    def mix(
        self,
        tracked: FaceParams,
        t: float,
        *,
        audio: FaceParams | None = None,
        speaking: float = 0.0,
        found: bool = True,
    ) -> FaceParams:
        """Hybrid mix and reference expression applied to already tracked params (e.g. resampled in time)."""
        out = tracked
        if self.hybrid is not None and audio is not None:
            out = self.hybrid.mix(audio, out, speaking=speaking, video_found=found, t=t)
        if self.expression:
            offsets = emotion_offsets(self.expression, 1, intensity=self.intensity, regions=self.expression_regions)
            out = out.replace(**{k: out[k] + v for k, v in offsets.items()})
        return out

    def close(self) -> None:
        """Release the tracker."""
        self.tracker.close()
