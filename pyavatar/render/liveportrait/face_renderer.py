"""The neural (LivePortrait) renderer behind the :class:`~pyavatar.render.base.FaceRenderer` protocol.

:class:`NeuralFaceRenderer` prepares a portrait with
:class:`~pyavatar.render.liveportrait.neural.NeuralRenderer`, calibrates a
:class:`~pyavatar.render.liveportrait.bridge.LivePortraitBridge` on it (the
source's eye and lip openness measured on its MediaPipe landmarks) and renders
FaceParams through the bridge's motion, so the same motion stream drives the
classical and the neural renderer. Keypoint motion (JoyVASA's driving
keypoints) renders directly with :meth:`NeuralFaceRenderer.render_keypoints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pyavatar.face.landmarks import MEDIAPIPE_478, LandmarkBackend
from pyavatar.face.params import FaceParams
from pyavatar.render.liveportrait.bridge import BridgeSource, LivePortraitBridge
from pyavatar.render.liveportrait.config import LivePortraitConfig
from pyavatar.render.liveportrait.keypoints import MEDIAPIPE478, eye_close_ratio, lip_close_ratio
from pyavatar.render.liveportrait.neural import NeuralRenderer, PreparedPortrait
from pyavatar.render.liveportrait.weights import LivePortraitModels
from pyavatar.render.portrait import CropParams

DEFAULT_EYE_RATIO = 0.3  # source eye openness assumed without landmarks (crop=)


@dataclass
class NeuralFacePortrait:
    """A prepared portrait plus the bridge's calibration for it."""

    prepared: PreparedPortrait
    bridge: BridgeSource


class NeuralFaceRenderer:
    """FaceParams → photoreal frames at the portrait's size.

    Args:
        models: loaded (or randomised) :class:`LivePortraitModels`.
        basis: optional expression offsets per FaceParams field (see :class:`LivePortraitBridge`).
        batch: frames rendered per network call.
        landmarks, crop_params, feather, renderer_options: as for :class:`NeuralRenderer`.
    """

    name = "neural"

    def __init__(
        self,
        models: LivePortraitModels,
        *,
        basis: Mapping[str, Tensor] | None = None,
        batch: int = 4,
        landmarks: LandmarkBackend | None = None,
        crop_params: CropParams | None = None,
        feather: float = 0.08,
        **renderer_options: object,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.neural = NeuralRenderer(
            models, landmarks=landmarks, crop_params=crop_params, feather=feather, **renderer_options
        )
        self.bridge = LivePortraitBridge(self.neural.renderer.models.stitching_retargeting_module, basis)
        self.batch = batch

    def prepare(
        self,
        image: str | Path | Image.Image | np.ndarray,
        *,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
    ) -> NeuralFacePortrait:
        """Prepare the portrait (see :meth:`NeuralRenderer.prepare`) and calibrate the bridge on it."""
        prepared = self.neural.prepare(image, crop=crop, face_index=face_index)
        face = prepared.portrait.face
        if face is not None and face.scheme == MEDIAPIPE_478:
            eyes = eye_close_ratio(face.points, MEDIAPIPE478)  # image-left eye first
            eye_ratio, lip_ratio = (
                (float(eyes[0]), float(eyes[1])),
                float(lip_close_ratio(face.points, MEDIAPIPE478)[0]),
            )
        else:
            eye_ratio, lip_ratio = (DEFAULT_EYE_RATIO, DEFAULT_EYE_RATIO), 0.0
        source = prepared.source
        calibration = self.bridge.calibrate(source.canonical, source.motion, eye_ratio, lip_ratio)
        return NeuralFacePortrait(prepared, calibration)

    @torch.inference_mode()
    def render_params(self, prepared: NeuralFacePortrait, params: FaceParams) -> np.ndarray:
        """Frames for every row of ``params``: (T, H, W, 3) uint8 at the portrait's size."""
        frames = []
        for start in range(0, len(params), self.batch):
            motion = self.bridge.to_motion(prepared.bridge, params[start : start + self.batch])
            frames.append(self.neural.render(prepared.prepared, motion).cpu().numpy())
        w, h = prepared.prepared.portrait.size
        return np.concatenate(frames) if frames else np.zeros((0, h, w, 3), np.uint8)

    @torch.inference_mode()
    def render_keypoints(self, prepared: NeuralFacePortrait, keypoints: np.ndarray) -> np.ndarray:
        """Frames for driving keypoints x_d (T, K, 3) given directly (keypoint motion such as JoyVASA's).

        Warping and decoding only, no stitching. Returns (T, H, W, 3) uint8 at the portrait's size.
        """
        frames = []
        source = prepared.prepared.source
        for start in range(0, len(keypoints), self.batch):
            x_d = torch.as_tensor(np.asarray(keypoints[start : start + self.batch], np.float32))
            crops = self.neural.renderer.warp_decode(source, x_d)
            frames.append(prepared.prepared.paste(crops).cpu().numpy())
        w, h = prepared.prepared.portrait.size
        return np.concatenate(frames) if frames else np.zeros((0, h, w, 3), np.uint8)


def from_weights(
    weights: str | Path | None = None,
    *,
    config: str | Path | LivePortraitConfig | None = None,
    **options: object,
) -> NeuralFaceRenderer:
    """The neural renderer on user-supplied LivePortrait checkpoints (the ``neural`` registry entry).

    Args:
        weights: directory (or file list) with the released ``.pth`` files or their
            safetensors conversions; required — pyavatar never downloads weights.
        config: model configuration (default: the released model), or a JSON file of one.
        **options: passed to :class:`NeuralFaceRenderer` (basis, batch, device, precision, kernel_backend, ...).
    """
    from pyavatar.render.liveportrait.weights import load_liveportrait

    if weights is None:
        raise ValueError(
            "the neural renderer needs LivePortrait weights: pass weights=DIR (CLI: --weights DIR) with the "
            "released appearance_feature_extractor/motion_extractor/warping_module/spade_generator/"
            "stitching_retargeting_module files"
        )
    if isinstance(config, (str, Path)):
        config = LivePortraitConfig.from_json(config)
    return NeuralFaceRenderer(load_liveportrait(weights, config), **options)  # type: ignore[arg-type]
