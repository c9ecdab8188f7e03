"""The ``video-keypoints`` motion source: LivePortrait's motion extractor on every driving frame.

LivePortrait's own reenactment for the neural renderer: each tracked video
frame is cropped as the renderer crops portraits (:func:`pyavatar.render.portrait.align_face`
on the tracker's 478 points), the renderer's motion extractor reads its pose,
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
import torch

from pyavatar.face.landmarks import FaceLandmarks
from pyavatar.motion.joyvasa.postproc import LIP_KEYPOINTS, pack
from pyavatar.motion.sources.video import VideoMotionSource, _feed, _video_motion
from pyavatar.render.liveportrait.motion import refine
from pyavatar.render.portrait import align_face
from pyavatar.tracking.tracker import TrackerSettings

_LIPS = [3 * k + c for k in LIP_KEYPOINTS for c in range(3)]


class KeypointExtractor:
    """(70,) keypoint motion of one RGB frame from its face mesh, with the portrait's renderer."""

    def __init__(self, portrait: Any) -> None:
        neural = portrait.renderer.neural
        self.models = neural.renderer.models
        self.device = neural.renderer.device
        self.crop_params = neural.crop_params
        self.source_exp = np.asarray(portrait.source.exp, np.float32).reshape(63)

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray, points: np.ndarray | None) -> np.ndarray | None:
        if points is None:
            return None
        xy = np.asarray(points[:, :2], np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        face = FaceLandmarks((*lo, *(hi - lo)), xy, 1.0, "mediapipe478")  # type: ignore[arg-type]
        crop = align_face(face, self.crop_params).crop(rgb)
        x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].to(self.device, torch.float32) / 255
        _, motion, degrees = refine(self.models.motion_extractor(x))
        d = degrees.float().cpu().numpy()
        parts = {"exp": motion.exp, "scale": motion.scale, "t": motion.t}
        return pack({**{k: v.float().cpu().numpy() for k, v in parts.items()},
                     "pitch": d[:, 0], "yaw": d[:, 1], "roll": d[:, 2]})[0]  # fmt: skip


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


def from_options(*, fps: float, portrait: Any, seed: int = 0, driving: Any = None, camera: Any = None,
                 frames: Any = None, neutral: Any = None,
                 tracker: TrackerSettings | None = None) -> VideoKeypointSource:  # fmt: skip
    """The registry's ``video-keypoints`` factory (``portrait``: the neural renderer's keypoint binding)."""
    extractor = KeypointExtractor(portrait)
    video = _video_motion(tracker, neutral, None)
    try:
        return VideoKeypointSource(fps, _feed(video, driving, camera, frames), video, extractor)
    except BaseException:
        video.close()
        raise
