"""Keypoint motion on a neural-renderer portrait: JoyVASA composition and FaceParams through the bridge."""

from __future__ import annotations

import numpy as np
import torch

from pyavatar.motion.common.keypoints import SourceKeypoints, compose_keypoints, driving_pose, unpack
from pyavatar.render.liveportrait.face_renderer import NeuralFacePortrait, NeuralFaceRenderer
from pyavatar.render.liveportrait.keypoints import Motion


def _source_keypoints(state: NeuralFacePortrait) -> SourceKeypoints:
    src = state.bridge
    m = src.motion
    return SourceKeypoints(
        x_c=src.canonical[0].float().cpu().numpy(), R=m.rotation[0].float().cpu().numpy(),
        exp=m.exp[0].float().cpu().numpy(), scale=float(m.scale.reshape(-1)[0]), t=m.t[0].float().cpu().numpy(),
    )  # fmt: skip


class NeuralKeypointPortrait:
    """Keypoint motion on one neural-renderer portrait: driving keypoints and FaceParams read back.

    Args:
        renderer: the neural renderer; ``state``: its prepared portrait.
        driving_multiplier: JoyVASA's push of the driving keypoints away from the source.
    """

    def __init__(self, renderer: NeuralFaceRenderer, state: NeuralFacePortrait, driving_multiplier: float = 1.10):
        self.renderer = renderer
        self.state = state
        self.source = _source_keypoints(state)
        self.multiplier = driving_multiplier

    def keypoints(self, keypoints: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(T, 21, 3) driving keypoints of raw motion (T, 70) relative to ``reference`` (70,)."""
        return compose_keypoints(unpack(keypoints), self.source, reference=unpack(reference[None]),
                                 driving_multiplier=self.multiplier)  # fmt: skip

    def to_params(self, keypoints: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(T, F) FaceParams values of the driven face, read back through the bridge."""
        r, _, scale, t = driving_pose(unpack(keypoints), self.source, reference=unpack(reference[None]))
        x_d = self.keypoints(keypoints, reference)
        shift = t.copy()
        shift[:, 2] = 0
        exp = (x_d - shift[:, None, :]) / scale[:, :, None] - self.source.x_c[None] @ r
        motion = Motion(*(torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (r, exp, t, scale)))
        return self.renderer.bridge.from_motion(self.state.bridge, motion).values.astype(np.float32)
