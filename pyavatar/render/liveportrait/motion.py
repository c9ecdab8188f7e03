"""M: motion extractor, a ConvNeXt-V2 backbone with seven linear heads."""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyavatar.render.liveportrait.config import MotionConfig
from pyavatar.render.liveportrait.keypoints import Motion, bins_to_degrees

LN_EPS = 1e-6


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of (B, C, H, W) (biased variance, eps inside the root)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise over channels at every pixel of (B, C, H, W), then scale and shift."""
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + LN_EPS)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global response normalisation on channels-last (B, H, W, C)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: Tensor) -> Tensor:
        """Global response normalisation of (B, H, W, C) features."""
        g = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + LN_EPS)
        return self.gamma * (x * n) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7 → LayerNorm → Linear ×4 → GELU(erf) → GRN → Linear → residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Depthwise conv, inverted-bottleneck MLP with GRN, plus the residual."""
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2Heads(nn.Module):
    """Backbone + pooled LayerNorm + heads kp, pitch, yaw, roll, t, exp, scale."""

    def __init__(self, cfg: MotionConfig) -> None:
        super().__init__()
        dims = cfg.dims
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(cfg.image_channel, dims[0], 4, stride=4), LayerNorm2d(dims[0]))]
            + [nn.Sequential(LayerNorm2d(a), nn.Conv2d(a, b, 2, stride=2)) for a, b in pairwise(dims)]
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(d) for _ in range(n))) for d, n in zip(dims, cfg.depths, strict=True)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=LN_EPS)
        k, bins = cfg.num_kp, cfg.num_bins
        self.fc_kp = nn.Linear(dims[-1], 3 * k)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], bins)
        self.fc_yaw = nn.Linear(dims[-1], bins)
        self.fc_roll = nn.Linear(dims[-1], bins)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * k)

    def pooled(self, x: Tensor) -> Tensor:
        """Globally pooled, normalised features (B, dims[-1])."""
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        return self.norm(x.mean(dim=(-2, -1)))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, 3, H, W) image → raw head outputs (keypoints, pose bins, translation, expression, scale)."""
        f = self.pooled(x)
        heads = ("kp", "pitch", "yaw", "roll", "t", "exp", "scale")
        return {name: getattr(self, f"fc_{name}")(f) for name in heads}


class MotionExtractor(nn.Module):
    """Image (B, 3, H, W) in [0, 1] → raw head outputs (keys under ``detector.``)."""

    def __init__(self, cfg: MotionConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or MotionConfig()
        self.detector = ConvNeXtV2Heads(self.cfg)
        self.requires_grad_(False)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Kp (B, 3K), pitch/yaw/roll logits (B, bins), t (B, 3), exp (B, 3K), scale (B, 1)."""
        return self.detector(image)


@torch.no_grad()
def refine(raw: dict[str, Tensor]) -> tuple[Tensor, Motion, Tensor]:
    """Raw M outputs (float32) → canonical keypoints (B, K, 3), :class:`Motion`, degrees (B, 3) pitch/yaw/roll."""
    raw = {k: v.float() for k, v in raw.items()}
    b = raw["kp"].shape[0]
    degrees = torch.stack([bins_to_degrees(raw[a]) for a in ("pitch", "yaw", "roll")], dim=1)
    motion = Motion.from_angles(
        degrees[:, 0], degrees[:, 1], degrees[:, 2], raw["exp"].view(b, -1, 3), raw["t"], raw["scale"]
    )
    return raw["kp"].view(b, -1, 3), motion, degrees
