"""Per-frame LivePortrait rendering on one prepared source (the 256² face crop).

:class:`LivePortraitRenderer` computes the source state once (F, M, posed
source keypoints) and then turns driving :class:`Motion` into 512² images:
keypoints → stitching/retargeting (float32) → W → G.

Precision: ``"fp32"`` everywhere, or ``"fp16"`` on CUDA: F and M run under
autocast; W and G hold float16 weights and run under autocast (so no weight
casts per frame); the fused warp kernels, softmax, sigmoid, instance-norm
statistics, pose math and the MLPs stay float32. With ``cuda_graphs=True`` the
W+G step is captured once per batch size and replayed.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pyavatar.render.liveportrait.keypoints import Motion
from pyavatar.render.liveportrait.motion import refine
from pyavatar.render.liveportrait.weights import LivePortraitModels

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class SourceState:
    """Everything per-frame rendering needs from the source crop (batch 1 or B).

    Attributes:
        feature: (B, C, D, h, w) appearance volume f_s, float32.
        canonical: (B, K, 3) canonical keypoints.
        motion: the source's own pose and expression.
        keypoints: (B, K, 3) posed source keypoints x_s.
        degrees: (B, 3) pitch, yaw, roll of the source in degrees.
    """

    feature: Tensor
    canonical: Tensor
    motion: Motion
    keypoints: Tensor
    degrees: Tensor


def image_to_tensor(image: np.ndarray | Tensor, device: torch.device | str = "cpu") -> Tensor:
    """uint8 (H, W, 3) or (B, H, W, 3) RGB → float32 (B, 3, H, W) in [0, 1] (÷255, clipped)."""
    t = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image)
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[-1] != 3:
        raise ValueError(f"image_to_tensor: expected (H, W, 3) or (B, H, W, 3) RGB, got {tuple(t.shape)}")
    t = t.to(device=device, dtype=torch.float32) / 255.0
    return t.clamp_(0, 1).permute(0, 3, 1, 2).contiguous()


def tensor_to_uint8(image: Tensor) -> Tensor:
    """Float (B, 3, H, W) → uint8 (B, H, W, 3): clip to [0, 1], ×255, clip, truncate (as the reference does)."""
    x = image.float().permute(0, 2, 3, 1).clamp(0, 1) * 255
    return x.clamp_(0, 255).to(torch.uint8)


class LivePortraitRenderer:
    """Source state once, then motion → image.

    Args:
        models: loaded :class:`LivePortraitModels` (moved to ``device`` here; several
            renderers may share them, e.g. to compare kernel backends).
        device: where to run.
        precision: ``"fp32"`` or ``"fp16"`` (CUDA only).
        kernel_backend: kernel backend for ``deform_features``/``dense_warp``
            (``"cpp"``, ``"torch"``, ...; None = automatic).
        cuda_graphs: capture the W+G step in CUDA graphs (CUDA only).
        stitching: apply the stitching MLP to driving keypoints.
        cudnn_benchmark: on CUDA, let cuDNN pick the fastest convolution
            algorithms for the fixed shapes (sets ``torch.backends.cudnn.benchmark``).
    """

    def __init__(
        self,
        models: LivePortraitModels,
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        kernel_backend: str | None = None,
        cuda_graphs: bool = False,
        stitching: bool = True,
        cudnn_benchmark: bool = True,
    ) -> None:
        self.device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError(f"precision 'fp16' needs a CUDA device, got {self.device}")
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device, got {self.device}")
        if cudnn_benchmark and self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.precision = precision
        self.stitching = stitching
        self.models = models.to(self.device).eval()
        self.kernel_backend = kernel_backend
        if precision == "fp16":
            self.models.warping_module.half()
            self.models.spade_generator.half()
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[int, _CapturedStep] = {}

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def prepare_source(self, image: Tensor) -> SourceState:
        """F and M on the source crop(s) (B, 3, 256, 256) float in [0, 1]."""
        image = image.to(self.device, torch.float32)
        with self._autocast():
            feature = self.models.appearance_feature_extractor(image)
            raw = self.models.motion_extractor(image)
        canonical, motion, degrees = refine(raw)
        return SourceState(feature.float(), canonical, motion, motion.keypoints(canonical), degrees)

    @torch.inference_mode()
    def driving_keypoints(
        self, source: SourceState, motion: Motion, *, eye: Tensor | None = None, lip: Tensor | None = None
    ) -> Tensor:
        """Driving keypoints x_d (B, K, 3) for ``motion`` on ``source`` (float32).

        Args:
            source: prepared source.
            motion: driving pose/expression (batch B; the source's canonical keypoints are used).
            eye: optional (B, 3) eye ratios (source left, source right, target) for eye retargeting.
            lip: optional (B, 2) lip ratios (source, target) for lip retargeting.
        """
        motion = motion.to(self.device)
        x_s = source.keypoints.expand(motion.batch, -1, -1)
        x_d = motion.keypoints(source.canonical)
        s = self.models.stitching_retargeting_module
        if self.stitching:
            x_d = s.stitch(x_s, x_d)
        if eye is not None:
            x_d = x_d + s.eye_delta(x_s, eye.to(self.device, torch.float32))
        if lip is not None:
            x_d = x_d + s.lip_delta(x_s, lip.to(self.device, torch.float32))
        return x_d

    def _warp_decode_eager(self, feature: Tensor, x_s: Tensor, x_d: Tensor) -> Tensor:
        with self._autocast():
            warped = self.models.warping_module(feature, x_s, x_d, kernel_backend=self.kernel_backend)["out"]
            return self.models.spade_generator(warped).float()

    @torch.inference_mode()
    def warp_decode(self, source: SourceState, x_d: Tensor) -> Tensor:
        """W + G: (B, 3, 512, 512) float32 image in (0, 1) for driving keypoints ``x_d`` (B, K, 3)."""
        b = x_d.shape[0]
        feature = source.feature.expand(b, *source.feature.shape[1:])
        x_s = source.keypoints.expand(b, -1, -1)
        x_d = x_d.to(self.device, torch.float32)
        if not self.cuda_graphs:
            return self._warp_decode_eager(feature, x_s, x_d)
        step = self._graphs.get(b)
        if step is None:
            try:
                step = _CapturedStep(self, feature, x_s, x_d)
            except RuntimeError as exc:  # a kernel backend that cannot be captured: stay eager
                log.warning("CUDA graph capture of W+G failed (%s); running eagerly", exc)
                self.cuda_graphs = False
                return self._warp_decode_eager(feature, x_s, x_d)
            self._graphs[b] = step
        return step(feature, x_s, x_d)

    def render(self, source: SourceState, motion: Motion) -> Tensor:
        """Keypoints, stitching, W and G for ``motion``: (B, 3, 512, 512) float32."""
        return self.warp_decode(source, self.driving_keypoints(source, motion))


class _CapturedStep:
    """One CUDA graph of W+G for a fixed batch size, with static input and output buffers."""

    def __init__(self, renderer: LivePortraitRenderer, feature: Tensor, x_s: Tensor, x_d: Tensor) -> None:
        self.feature = feature.contiguous().clone()
        self.x_s = x_s.contiguous().clone()
        self.x_d = x_d.contiguous().clone()
        self.graph = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream(device=feature.device)
        side.wait_stream(torch.cuda.current_stream(feature.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up: cuDNN autotuning and lazy initialisation outside the capture
                renderer._warp_decode_eager(self.feature, self.x_s, self.x_d)
        torch.cuda.current_stream(feature.device).wait_stream(side)
        with torch.cuda.graph(self.graph):
            self.output = renderer._warp_decode_eager(self.feature, self.x_s, self.x_d)
        self.bound = (feature.data_ptr(), x_s.data_ptr())

    def __call__(self, feature: Tensor, x_s: Tensor, x_d: Tensor) -> Tensor:
        source = (feature.data_ptr(), x_s.data_ptr())
        if source != self.bound:  # another source: refresh its static copy once
            self.feature.copy_(feature)
            self.x_s.copy_(x_s)
            self.bound = source
        self.x_d.copy_(x_d)
        self.graph.replay()
        return self.output.clone()
