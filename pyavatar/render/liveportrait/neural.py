"""The neural renderer end to end: portrait in, full-size animated frames out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pyavatar.face.landmarks import LandmarkBackend
from pyavatar.render.liveportrait.keypoints import Motion
from pyavatar.render.liveportrait.renderer import LivePortraitRenderer, SourceState, image_to_tensor
from pyavatar.render.liveportrait.weights import LivePortraitModels
from pyavatar.render.portrait import CropParams, PasteBack, Portrait, prepare_portrait


@dataclass
class PreparedPortrait:
    """A portrait ready for per-frame rendering: original, source state and paste-back."""

    portrait: Portrait
    source: SourceState
    paste: PasteBack


class NeuralRenderer:
    """Photoreal renderer: prepares a portrait once, then renders motion into the original frame.

    Args:
        models: loaded (or randomised) :class:`LivePortraitModels`.
        landmarks: landmark backend for face finding (default: MediaPipe, created on first use).
        crop_params: crop framing (default :class:`CropParams`).
        feather: paste-back mask fall-off (fraction of the crop side).
        **renderer_options: passed to :class:`LivePortraitRenderer` (device,
            precision, kernel_backend, cuda_graphs, stitching).
    """

    def __init__(
        self,
        models: LivePortraitModels,
        *,
        landmarks: LandmarkBackend | None = None,
        crop_params: CropParams | None = None,
        feather: float = 0.08,
        **renderer_options: object,
    ) -> None:
        self.renderer = LivePortraitRenderer(models, **renderer_options)  # type: ignore[arg-type]
        self.landmarks = landmarks
        self.crop_params = crop_params or CropParams()
        self.feather = feather

    @property
    def device(self) -> torch.device:
        """Where rendering and compositing run."""
        return self.renderer.device

    def prepare(
        self,
        image: str | Path | Image.Image | np.ndarray,
        *,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
    ) -> PreparedPortrait:
        """Find and align the face (or use ``crop``), compute the source state once, set up paste-back."""
        if crop is None and self.landmarks is None:
            from pyavatar.render.landmarks import default_landmarks

            self.landmarks = default_landmarks()
        portrait = prepare_portrait(
            image, crop=crop, face_index=face_index, landmarks=self.landmarks, params=self.crop_params
        )
        source = self.renderer.prepare_source(image_to_tensor(portrait.crop256, self.device))
        return PreparedPortrait(portrait, source, portrait.paste_back(self.device, self.feather))

    def render_crops(self, prepared: PreparedPortrait, motion: Motion) -> Tensor:
        """Rendered 512² crops (B, 3, 512, 512) float32 for ``motion`` (batch B)."""
        return self.renderer.render(prepared.source, motion)

    @torch.inference_mode()
    def render(self, prepared: PreparedPortrait, motion: Motion) -> Tensor:
        """Full frames (B, H, W, 3) uint8 on :attr:`device`: keypoints → W → G → paste-back."""
        return prepared.paste(self.render_crops(prepared, motion))
