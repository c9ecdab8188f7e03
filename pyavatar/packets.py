"""Timestamped packets shared by the pipeline stages (a leaf: imports nothing from pyavatar).

Audio, speech features, lip motion, generated motion chunks and the per-frame
:class:`MotionFrame` live here so that audio, motion, render and outputs share
them without importing the runtime.

Every packet carries ``pts_ns``, the time of its first sample or frame in
nanoseconds on the stream clock (0 = start of a file, a monotonic time for
live input). Frame-rate packets hold ``T`` frames; frame ``i`` covers
``[pts_ns + i / frame_rate, pts_ns + (i + 1) / frame_rate)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NS_PER_S = 1_000_000_000

#: The array type of every packet field (all float32).
Float32Array = npt.NDArray[np.float32]

#: VRM 1.0 lip-sync expressions, the column order of :attr:`LipChunk.visemes`.
VRM_VISEMES: tuple[str, ...] = ("aa", "ih", "ou", "ee", "oh")
#: Meta/Oculus OVRLipSync visemes, the column order of :attr:`LipChunk.ovr`.
OVR_VISEMES: tuple[str, ...] = (
    "sil",
    "PP",
    "FF",
    "TH",
    "DD",
    "kk",
    "CH",
    "SS",
    "nn",
    "RR",
    "aa",
    "E",
    "ih",
    "oh",
    "ou",
)


def _frames(name: str, a: npt.NDArray[np.generic], n: int, cols: int | None = None) -> None:
    want = (n,) if cols is None else (n, cols)
    if a.shape != want:
        raise ValueError(f"{name}: expected shape {want}, got {a.shape}")


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 audio: ``samples`` (N,) in [-1, 1] at ``sample_rate`` Hz starting at ``pts_ns``."""

    pts_ns: int
    sample_rate: int
    samples: Float32Array

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.samples.dtype != np.float32 or self.samples.ndim != 1:
            raise ValueError(f"samples must be 1-D float32, got {self.samples.dtype} {self.samples.shape}")

    @property
    def pts(self) -> float:
        """Start time in seconds."""
        return self.pts_ns / NS_PER_S

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def end_pts_ns(self) -> int:
        """Time just after the last sample, in nanoseconds."""
        return self.pts_ns + round(len(self.samples) * NS_PER_S / self.sample_rate)


@dataclass(frozen=True)
class FeatureChunk:
    """Speech features for ``T`` frames at ``frame_rate`` Hz.

    ``log_mel`` (T, 80) natural-log mel power, ``mfcc`` (T, 13) with c0 first,
    ``rms`` (T,) linear RMS of the frame's own samples, ``voicing`` (T,) 0..1
    periodicity, ``f0`` (T,) Hz (0 where unvoiced). All float32.
    """

    pts_ns: int
    frame_rate: float
    log_mel: Float32Array
    mfcc: Float32Array
    rms: Float32Array
    voicing: Float32Array
    f0: Float32Array

    def __post_init__(self) -> None:
        n = len(self.rms)
        _frames("log_mel", self.log_mel, n, self.log_mel.shape[1] if self.log_mel.ndim == 2 else -1)
        _frames("mfcc", self.mfcc, n, self.mfcc.shape[1] if self.mfcc.ndim == 2 else -1)
        _frames("voicing", self.voicing, n)
        _frames("f0", self.f0, n)

    def __len__(self) -> int:
        return len(self.rms)


@dataclass(frozen=True)
class LipChunk:
    """Mouth motion for ``T`` frames at ``frame_rate`` Hz, all float32 in 0..1.

    ``visemes`` (T, 5) in :data:`VRM_VISEMES` order, ``jaw_open``, ``mouth_wide``,
    ``mouth_round``, ``speaking`` (T,) (the smoothed noise-gate state), and
    ``ovr`` (T, 15) in :data:`OVR_VISEMES` order when requested.
    """

    pts_ns: int
    frame_rate: float
    visemes: Float32Array
    jaw_open: Float32Array
    mouth_wide: Float32Array
    mouth_round: Float32Array
    speaking: Float32Array
    ovr: Float32Array | None = None

    def __post_init__(self) -> None:
        n = len(self.jaw_open)
        _frames("visemes", self.visemes, n, len(VRM_VISEMES))
        for name in ("mouth_wide", "mouth_round", "speaking"):
            _frames(name, getattr(self, name), n)
        if self.ovr is not None:
            _frames("ovr", self.ovr, n, len(OVR_VISEMES))

    def __len__(self) -> int:
        return len(self.jaw_open)


@dataclass(frozen=True)
class MotionChunk:
    """``T`` generated frames at ``frame_rate`` in motion space ``space`` (raw units), from a diffusion generator.

    ``values`` (T, dim) float32 (``dim`` set by the space, see
    :func:`pyavatar.motion.diffusion.get_space`); ``keypoints`` (T, 21, 3)
    LivePortrait driving keypoints when the generator has a source face.
    """

    pts_ns: int
    frame_rate: float
    space: str
    values: Float32Array
    keypoints: Float32Array | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"MotionChunk: values must be (T, dim), got {self.values.shape}")
        if self.keypoints is not None:
            _frames("keypoints", self.keypoints.reshape(len(self.keypoints), -1), len(self.values), 63)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class MotionFrame:
    """Face motion of one output frame (what every motion source emits and every renderer and output takes).

    Attributes:
        index: frame number on the output grid (0 = first frame of the session).
        pts_ns: stream time of the frame's start.
        fps: frame rate of the grid.
        capture_ns: clock time at which the audio at the frame's centre was captured (-1 offline).
        params: (F,) float32 face parameters in :data:`pyavatar.face.params.NAMES` order.
        visemes: (5,) float32 in :data:`VRM_VISEMES` order.
        speaking: 0..1 noise-gate state.
        emotion: name of the emotion target; ``intensity`` its intensity.
        keypoints: (70,) float32 LivePortrait keypoint motion in JoyVASA's layout
            (:data:`pyavatar.motion.joyvasa.LAYOUT`: expression 21x3, scale, translation, pitch/yaw/roll in
            degrees) when the source produces keypoint motion, else None.
        keypoints_ref: (70,) the stream's reference frame of ``keypoints`` (motion is applied to a portrait
            relative to it, as JoyVASA does), None without keypoints.
    """

    index: int
    pts_ns: int
    fps: float
    capture_ns: int
    params: Float32Array
    visemes: Float32Array
    speaking: float = 0.0
    emotion: str = "neutral"
    intensity: float = 0.0
    keypoints: Float32Array | None = None
    keypoints_ref: Float32Array | None = None

    @property
    def time(self) -> float:
        """Start time in seconds on the stream clock."""
        return self.pts_ns / 1e9
