"""The ``video-keypoints`` motion source: LivePortrait's motion extractor on every driving frame.

LivePortrait's own video-driven reenactment for the neural renderer: each tracked video frame is
cropped as the renderer crops portraits (``align_face`` on the tracker's 478 points, done by the
portrait binding's ``motion_of``) and the renderer's motion extractor reads its pose, expression,
scale and translation. :class:`VideoDriving` then builds the driving keypoints as LivePortrait's
video pipeline does for a still source image (relative motion, region "all"): relative to the first
driving frame, ``R = R_i R_0ᵀ R_s``, ``exp = exp_s + (exp_i − exp_0)`` (the lips too),
``scale = scale_s · scale_i / scale_0``, ``t = t_s + (t_i − t_0)`` with z zeroed; then the
renderer's **stitching** MLP (so the moved face joins the portrait's shoulders; the stitching
weights come with every LivePortrait weight set) and a driving multiplier of 1 — not JoyVASA's
×1.10 push, and no eye/lip retargeting.

The frames carry that result in the keypoint layout the neural renderer composes
(``MotionFrame.keypoints``, JoyVASA's 70 values, with ``keypoints_ref``): the stitched driving
keypoints are written as an expression around the portrait's own pose, relative to a reference
holding the portrait's expression, so the renderer's keypoint binding (:mod:`pyavatar.sdk.keypoints`,
which also undoes its ×1.10 push here) reproduces them exactly. Offline, this motion is interpolated
onto the output grid like the FaceParams. The tracked FaceParams ride along for the VMC/OSC outputs
and the classical renderer. Timing, calibration and the driving/camera inputs are those of the
``video`` source; no control is honoured (each is refused naming the source).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pyavatar.motion.common.keypoints import SourceKeypoints, pack, rotation_matrix, unpack
from pyavatar.motion.sources.video import VideoMotionSource, _feed, _video_motion
from pyavatar.tracking.tracker import TrackerSettings


class KeypointExtractor:
    """(70,) keypoint motion of one RGB frame from its face mesh, through the portrait binding (None without a face)."""

    def __init__(self, portrait: Any) -> None:
        self.portrait = portrait

    def __call__(self, rgb: np.ndarray, points: np.ndarray | None) -> np.ndarray | None:
        """The frame's raw keypoint motion (None without a face)."""
        return None if points is None else self.portrait.motion_of(rgb, points)


class VideoDriving:
    """LivePortrait's video-driving keypoints on one source portrait, in the renderer's keypoint layout.

    Args:
        source: the portrait's keypoint motion (its motion extractor's reading).
        stitching: the renderer's stitching module (``stitch(x_s, x_d)``); None skips stitching.
        multiplier: the driving multiplier the renderer's keypoint binding applies (undone here).
    """

    def __init__(self, source: SourceKeypoints, stitching: Any, multiplier: float) -> None:
        self.source = source
        self.stitching = stitching
        self.multiplier = float(multiplier)
        self.x_s = source.x_s
        self._t0 = np.array([source.t[0], source.t[1], 0.0], np.float32)
        n = len(np.asarray(source.exp).reshape(-1, 3))
        # the reference the renderer composes against: the portrait's own expression, unit scale, no motion
        self.reference = pack(
            {
                "exp": np.asarray(source.exp, np.float32).reshape(1, n, 3),
                "scale": np.ones((1, 1), np.float32),
                "t": np.zeros((1, 3), np.float32),
                "pitch": np.zeros(1, np.float32),
                "yaw": np.zeros(1, np.float32),
                "roll": np.zeros(1, np.float32),
            }
        )[0]

    def relative(self, raw: np.ndarray, first: np.ndarray) -> np.ndarray:
        """(21, 3) driving keypoints of raw motion ``raw`` relative to the first driving frame ``first``."""
        d, d0 = unpack(raw[None]), unpack(first[None])
        s = self.source
        rot = rotation_matrix(d["pitch"], d["yaw"], d["roll"])[0]
        rot0 = rotation_matrix(d0["pitch"], d0["yaw"], d0["roll"])[0]
        r_new = rot @ rot0.T @ s.R
        exp = s.exp + (d["exp"][0] - d0["exp"][0])
        scale = s.scale * float(d["scale"][0, 0]) / float(d0["scale"][0, 0])
        t = s.t + (d["t"][0] - d0["t"][0])
        t[2] = 0.0
        return (scale * (s.x_c @ r_new + exp) + t).astype(np.float32)

    @torch.inference_mode()
    def stitched(self, x_d: np.ndarray) -> np.ndarray:
        """(21, 3) keypoints after the stitching MLP (unchanged without one)."""
        if self.stitching is None:
            return x_d
        device = next(self.stitching.parameters()).device
        x_s, x = (torch.from_numpy(np.ascontiguousarray(a, np.float32))[None].to(device) for a in (self.x_s, x_d))
        return self.stitching.stitch(x_s, x)[0].float().cpu().numpy()

    def encode(self, x_d: np.ndarray) -> np.ndarray:
        """(70,) motion that the renderer's binding composes, against :attr:`reference`, into ``x_d``."""
        s = self.source
        x = self.x_s + (x_d - self.x_s) / self.multiplier
        exp = (x - self._t0) / s.scale - s.x_c @ s.R
        ref = unpack(self.reference[None])
        return pack({**ref, "exp": exp[None].astype(np.float32)})[0]

    def __call__(self, raw: np.ndarray, first: np.ndarray) -> np.ndarray:
        """(70,) frame motion: relative to ``first``, stitched, encoded for the renderer."""
        return self.encode(self.stitched(self.relative(raw, first)))


class VideoKeypointSource(VideoMotionSource):
    """The ``video`` source plus LivePortrait keypoint motion per frame (see the module docstring)."""

    def __init__(self, fps: float, feed: Any, video: Any, extractor: KeypointExtractor, driving: VideoDriving) -> None:
        super().__init__(fps, feed, video)
        self.name = "video-keypoints"
        self.controls = frozenset()
        self.extractor = extractor
        self.driving = driving
        feed.extra = extractor
        self._first: np.ndarray | None = None

    def _keypoints(self, extra: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if extra is None:  # no face (yet): FaceParams only
            return None, None
        if self._first is None:
            self._first = extra.astype(np.float32).copy()
        return self.driving(extra.astype(np.float32), self._first), self.driving.reference


def video_driving(portrait: Any) -> VideoDriving:
    """:class:`VideoDriving` for a neural-renderer portrait binding (its renderer's stitching module)."""
    models = portrait.renderer.neural.renderer.models
    return VideoDriving(portrait.source, models.stitching_retargeting_module, portrait.multiplier)


def from_options(
    *,
    fps: float,
    portrait: Any,
    seed: int = 0,
    driving: Any = None,
    camera: Any = None,
    frames: Any = None,
    neutral: Any = None,
    tracker: TrackerSettings | None = None,
) -> VideoKeypointSource:
    """The registry's ``video-keypoints`` factory (``portrait``: the neural renderer's keypoint binding)."""
    extractor = KeypointExtractor(portrait)
    composer = video_driving(portrait)
    video = _video_motion(tracker, neutral, None)
    try:
        return VideoKeypointSource(fps, _feed(video, driving, camera, frames), video, extractor, composer)
    except BaseException:
        video.close()
        raise
