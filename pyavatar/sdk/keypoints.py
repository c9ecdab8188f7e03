"""Keypoint motion on a neural-renderer portrait: JoyVASA composition and FaceParams through the bridge."""

from __future__ import annotations

import numpy as np
import torch

from pyavatar.face.landmarks import FaceLandmarks
from pyavatar.motion.common.keypoints import SourceKeypoints, compose_keypoints, driving_pose, pack, unpack
from pyavatar.render.liveportrait.face_renderer import NeuralFacePortrait, NeuralFaceRenderer
from pyavatar.render.liveportrait.keypoints import Motion
from pyavatar.render.liveportrait.motion import refine
from pyavatar.render.portrait import align_face


def _source_keypoints(state: NeuralFacePortrait) -> SourceKeypoints:
    src = state.bridge
    m = src.motion
    return SourceKeypoints(
        x_c=src.canonical[0].float().cpu().numpy(),
        R=m.rotation[0].float().cpu().numpy(),
        exp=m.exp[0].float().cpu().numpy(),
        scale=float(m.scale.reshape(-1)[0]),
        t=m.t[0].float().cpu().numpy(),
    )


class NeuralKeypointPortrait:
    """Keypoint motion on one neural-renderer portrait: driving keypoints and FaceParams read back.

    Args:
        renderer: the neural renderer; ``state``: its prepared portrait.
        driving_multiplier: JoyVASA's push of the driving keypoints away from the source.
    """

    def __init__(
        self, renderer: NeuralFaceRenderer, state: NeuralFacePortrait, driving_multiplier: float = 1.10
    ) -> None:
        self.renderer = renderer
        self.state = state
        self.source = _source_keypoints(state)
        self.multiplier = driving_multiplier

    def keypoints(self, keypoints: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(T, 21, 3) driving keypoints of raw motion (T, 70) relative to ``reference`` (70,)."""
        return compose_keypoints(
            unpack(keypoints), self.source, reference=unpack(reference[None]), driving_multiplier=self.multiplier
        )

    def to_params(self, keypoints: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(T, F) FaceParams values of the driven face, read back through the bridge."""
        r, _, scale, t = driving_pose(unpack(keypoints), self.source, reference=unpack(reference[None]))
        x_d = self.keypoints(keypoints, reference)
        shift = t.copy()
        shift[:, 2] = 0
        exp = (x_d - shift[:, None, :]) / scale[:, :, None] - self.source.x_c[None] @ r
        motion = Motion(*(torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (r, exp, t, scale)))
        return self.renderer.bridge.from_motion(self.state.bridge, motion).values.astype(np.float32)

    @torch.inference_mode()
    def motion_of(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(70,) raw keypoint motion of the face in ``rgb`` with (478, 2+) MediaPipe ``points``.

        The face is cropped as the renderer crops portraits and read by its motion extractor (the driving
        frames of ``video-keypoints``).
        """
        neural = self.renderer.neural
        xy = np.asarray(points[:, :2], np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        face = FaceLandmarks(
            (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])), xy, 1.0, "mediapipe478"
        )
        crop = align_face(face, neural.crop_params).crop(rgb)
        x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255
        _, motion, degrees = refine(neural.renderer.models.motion_extractor(x.to(neural.renderer.device)))
        d = degrees.float().cpu().numpy()
        parts = {k: v.float().cpu().numpy() for k, v in (("exp", motion.exp), ("scale", motion.scale), ("t", motion.t))}
        return pack({**parts, "pitch": d[:, 0], "yaw": d[:, 1], "roll": d[:, 2]})[0]
