"""W: warping module (dense motion from keypoints, feature warping, occlusion)."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyavatar.kernels import deform_features, dense_warp
from pyavatar.render.liveportrait.config import DenseMotionConfig, WarpingConfig
from pyavatar.render.liveportrait.layers import (
    CheckpointMapped,
    ConvBN,
    TensorSpec,
    bn_layout,
    conv_layout,
    fold_conv_bn,
    frozen,
)

KP_VARIANCE = 0.01


class HourglassEncoder(nn.Module):
    """The hourglass's down path: a ConvBN stride-2 block per width."""

    def __init__(self, in_features: int, widths: list[int]) -> None:
        super().__init__()
        chans = [in_features, *widths]
        self.down_blocks = nn.ModuleList(ConvBN(3, a, b, resample="down") for a, b in pairwise(chans))

    def forward(self, x: Tensor) -> list[Tensor]:
        """The input followed by every down block's output (the skips)."""
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(CheckpointMapped):
    """Up-blocks with skip concatenation, then conv → BN → ReLU (own keys ``conv.*``, ``norm.*``)."""

    def __init__(self, in_features: int, widths: list[int], block_expansion: int) -> None:
        super().__init__()
        n = len(widths)
        outs = [block_expansion, *widths[:-1]]  # width after up-block i (level i+1 → level i)
        self.up_blocks = nn.ModuleList(
            ConvBN(3, widths[i] * (1 if i == n - 1 else 2), outs[i], resample="up") for i in reversed(range(n))
        )
        self.out_channels = block_expansion + in_features
        self.weight = frozen(self.out_channels, self.out_channels, 3, 3, 3)
        self.bias = frozen(self.out_channels)

    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """The output convolution and batch norm tensors."""
        c = self.out_channels
        return {**conv_layout("conv", c, c, (3, 3, 3)), **bn_layout("norm", c)}

    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Fold the output batch norm into its convolution."""
        w, b = fold_conv_bn(tensors, "conv", "norm")
        self.weight.copy_(w)
        self.bias.copy_(b)

    def forward(self, skips: list[Tensor]) -> Tensor:
        """Upsample from the deepest skip, concatenating each shallower one."""
        skips = list(skips)
        x = skips.pop()
        for block in self.up_blocks:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return F.relu(F.conv3d(x, self.weight, self.bias, padding=1))


class Hourglass(nn.Module):
    """3-D U-Net: ``num_blocks`` 2× spatial reductions (depth kept), output width e + c_in."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        widths = [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.encoder = HourglassEncoder(in_features, widths)
        self.decoder = HourglassDecoder(in_features, widths, min(max_features, block_expansion))
        self.out_channels = self.decoder.out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Encoder then decoder over (B, C, D, H, W)."""
        return self.decoder(self.encoder(x))


class DenseMotionNetwork(CheckpointMapped):
    """Keypoints + feature volume → motion mask, deformation and occlusion.

    Own checkpoint keys: ``compress.*`` and ``norm.*`` (the compress conv and its BatchNorm).
    """

    def __init__(self, cfg: DenseMotionConfig, feature_channels: int, num_kp: int, occlusion: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_kp = num_kp
        self.compress_weight = frozen(cfg.compress, feature_channels, 1, 1, 1)
        self.compress_bias = frozen(cfg.compress)
        in_features = (num_kp + 1) * (cfg.compress + 1)
        self.hourglass = Hourglass(cfg.block_expansion, in_features, cfg.num_blocks, cfg.max_features)
        width = self.hourglass.out_channels
        self.mask = nn.Conv3d(width, num_kp + 1, 7, padding=3)
        self.occlusion = nn.Conv2d(width * cfg.reshape_depth, 1, 7, padding=3) if occlusion else None

    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """The feature-compression convolution and batch norm tensors."""
        c, f = self.compress_weight.shape[:2]
        return {**conv_layout("compress", c, f, (1, 1, 1)), **bn_layout("norm", c)}

    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Fold the compression batch norm into its convolution."""
        w, b = fold_conv_bn(tensors, "compress", "norm")
        self.compress_weight.copy_(w)
        self.compress_bias.copy_(b)

    def compress(self, feature: Tensor) -> Tensor:
        """1×1×1 conv → BN → ReLU: (B, C, D, H, W) → (B, compress, D, H, W)."""
        return F.relu(F.conv3d(feature, self.compress_weight, self.compress_bias))

    def hourglass_input(self, compressed: Tensor, kp_source: Tensor, kp_driving: Tensor, backend: str | None) -> Tensor:
        """(B, (K+1)·(compress+1), D, H, W): per keypoint group the heatmap difference and the shifted features.

        Computed in float32 by the fused kernel whatever the autocast state.
        """
        out = deform_features(compressed.float(), kp_source, kp_driving, KP_VARIANCE, backend=backend)
        return out.flatten(1, 2)

    def forward(
        self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor, backend: str | None = None
    ) -> dict[str, Tensor]:
        """``mask`` (B, K+1, D, H, W) softmaxed, ``hourglass`` output, ``occlusion_map`` (B, 1, H, W) when enabled."""
        prediction = self.hourglass(self.hourglass_input(self.compress(feature), kp_source, kp_driving, backend))
        out = {"hourglass": prediction, "mask": torch.softmax(self.mask(prediction).float(), dim=1)}
        if self.occlusion is not None:
            b, c, d, h, w = prediction.shape
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(b, c * d, h, w)).float())
        return out


class WarpingNetwork(nn.Module):
    """(feature volume, source and driving keypoints) → warped 2-D feature map for G."""

    def __init__(self, cfg: WarpingConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or WarpingConfig()
        self.cfg = cfg
        self.dense_motion_network = DenseMotionNetwork(
            cfg.dense_motion, cfg.reshape_channel, cfg.num_kp, cfg.estimate_occlusion_map
        )
        self.third = ConvBN(2, cfg.max_features, cfg.out_channels, negative_slope=0.01)
        self.fourth = nn.Conv2d(cfg.out_channels, cfg.out_channels, 1)
        self.requires_grad_(False)

    def forward(
        self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor, *, kernel_backend: str | None = None
    ) -> dict[str, Tensor]:
        """Returns ``out`` (B, C_out, H, W), ``deformation`` (B, D, H, W, 3) and ``occlusion_map``.

        Args:
            feature: (B, C, D, H, W) source feature volume (f_s).
            kp_source: (B, K, 3) source keypoints (float32).
            kp_driving: (B, K, 3) driving keypoints (float32).
            kernel_backend: backend of the fused warp kernels (None = automatic).
        """
        dense = self.dense_motion_network(feature, kp_source, kp_driving, kernel_backend)
        warped, deformation = dense_warp(
            feature.float(), dense["mask"], kp_source, kp_driving, return_deformation=True, backend=kernel_backend
        )
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.view(b, c * d, h, w)))
        result = {"deformation": deformation}
        if "occlusion_map" in dense:
            out = out * dense["occlusion_map"].to(out.dtype)
            result["occlusion_map"] = dense["occlusion_map"]
        result["out"] = out
        return result
