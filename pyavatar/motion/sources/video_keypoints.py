"""The ``video-keypoints`` motion source: LivePortrait's motion extractor on every driving frame.

LivePortrait's own reenactment for the neural renderer: each tracked video
frame is cropped as the renderer crops portraits (``align_face`` on the tracker's 478 points, done by
the portrait binding's ``motion_of``), the renderer's motion extractor reads its pose,
expression, scale and translation, and the frame's keypoint motion is applied
to the portrait relative to the first driving frame (rotation, expression,
scale and translation deltas; the lips too, so a closed-mouth driver keeps the
portrait's mouth). Frames carry this motion as ``MotionFrame.keypoints`` (JoyVASA's 70-value layout)
with the first frame as ``keypoints_ref``; the neural renderer composes it on
the portrait (the keypoint binding of :mod:`pyavatar.sdk.keypoints`, which pushes the driving keypoints
×1.10 from the source as JoyVASA does). The tracked FaceParams ride along for the VMC/OSC
outputs and the classical renderer. Timing, calibration and the driving/camera inputs are those of the
``video`` source; no control is honoured (each is refused naming the source).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyavatar.motion.common.keypoints import LIP_KEYPOINTS
from pyavatar.motion.sources.video import VideoMotionSource, _feed, _video_motion
from pyavatar.tracking.tracker import TrackerSettings

_LIPS = [3 * k + c for k in LIP_KEYPOINTS for c in range(3)]


class KeypointExtractor:
    """(70,) keypoint motion of one RGB frame from its face mesh, through the portrait binding (None without a face)."""

    def __init__(self, portrait: Any) -> None:
        self.portrait = portrait
        self.source_exp = np.asarray(portrait.source.exp, np.float32).reshape(63)

    def __call__(self, rgb: np.ndarray, points: np.ndarray | None) -> np.ndarray | None:
        return None if points is None else self.portrait.motion_of(rgb, points)


class VideoKeypointSource(VideoMotionSource):
    """The ``video`` source plus LivePortrait keypoint motion per frame (see the module docstring)."""

    def __init__(self, fps: float, feed: Any, video: Any, extractor: KeypointExtractor) -> None:
        super().__init__(fps, feed, video)
        self.name = "video-keypoints"
        self.controls = frozenset()
        self.extractor = extractor
        feed.extra = extractor
        self._ref: np.ndarray | None = None

    def _keypoints(self, extra: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if extra is None:  # no face (yet): FaceParams only
            return None, None
        if self._ref is None:
            self._ref = extra.astype(np.float32).copy()
        out = extra.astype(np.float32).copy()
        # relative lips as well (the keypoint binding takes the lips' expression as absolute, as JoyVASA does)
        out[_LIPS] = self.extractor.source_exp[_LIPS] + extra[_LIPS] - self._ref[_LIPS]
        return out, self._ref


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
    video = _video_motion(tracker, neutral, None)
    try:
        return VideoKeypointSource(fps, _feed(video, driving, camera, frames), video, extractor)
    except BaseException:
        video.close()
        raise
