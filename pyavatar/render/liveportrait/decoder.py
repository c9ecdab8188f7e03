"""G: SPADE decoder, warped feature map → RGB image (×8 spatial with the released config)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyavatar.render.liveportrait.config import DecoderConfig
from pyavatar.render.liveportrait.layers import SNConv2d

IN_EPS = 1e-5
SLOPE = 0.2


def instance_norm(x: Tensor) -> Tensor:
    """Per-sample, per-channel normalisation over H, W (no affine); statistics in float32."""
    return F.instance_norm(x.float(), eps=IN_EPS).to(x.dtype)


class SPADE(nn.Module):
    """Spatially adaptive modulation: norm(x)·(1 + γ(label)) + β(label).

    :meth:`forward` takes the already normalised input and the label map at
    the same spatial size, so a block normalises and resizes once.
    """

    def __init__(self, norm_channels: int, label_channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_channels, 3, padding=1)

    def forward(self, normalised: Tensor, label: Tensor) -> Tensor:
        """Modulate the normalised features by scale and shift predicted from ``label``."""
        actv = self.mlp_shared(label)
        return normalised * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Two SPADE → LeakyReLU(0.2) → spectral-norm conv stages plus a (learned when fin ≠ fout) shortcut."""

    def __init__(self, fin: int, fout: int, label_channels: int, hidden: int) -> None:
        super().__init__()
        fmid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = SNConv2d(fin, fmid, 3)
        self.conv_1 = SNConv2d(fmid, fout, 3)
        self.norm_0 = SPADE(fin, label_channels, hidden)
        self.norm_1 = SPADE(fmid, label_channels, hidden)
        if self.learned_shortcut:
            self.conv_s = SNConv2d(fin, fout, 1, bias=False)
            self.norm_s = SPADE(fin, label_channels, hidden)

    def forward(self, x: Tensor, label: Tensor) -> Tensor:
        """``label`` is the decoder input; it is resized (nearest) to x's size here."""
        if label.shape[-2:] != x.shape[-2:]:
            label = F.interpolate(label, size=x.shape[-2:], mode="nearest")
        nx = instance_norm(x)
        shortcut = self.conv_s(self.norm_s(nx, label)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(nx, label), SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(instance_norm(dx), label), SLOPE))
        return shortcut + dx


class SPADEDecoder(nn.Module):
    """Feature map (B, C_in, h, w) → image (B, 3, h·2^k·upscale, …) in (0, 1).

    Layout: ``fc`` conv C_in → 2·C_in, ``G_middle_0..n`` blocks at 2·C_in, nearest
    ×2, ``up_0`` 2·C_in → C_in, nearest ×2, ``up_1`` C_in → out_channels,
    LeakyReLU(0.2), ``conv_img`` (with pixel shuffle when upscale > 1), sigmoid.
    """

    def __init__(self, cfg: DecoderConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DecoderConfig()
        self.cfg = cfg
        c, hidden = cfg.in_channels, cfg.spade_hidden
        self.fc = nn.Conv2d(c, 2 * c, 3, padding=1)
        for i in range(cfg.num_middle_blocks):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * c, 2 * c, c, hidden))
        self.up_0 = SPADEResnetBlock(2 * c, c, c, hidden)
        self.up_1 = SPADEResnetBlock(c, cfg.out_channels, c, hidden)
        if cfg.upscale > 1:
            self.conv_img: nn.Module = nn.Sequential(
                nn.Conv2d(cfg.out_channels, 3 * cfg.upscale**2, 3, padding=1), nn.PixelShuffle(cfg.upscale)
            )
        else:
            self.conv_img = nn.Conv2d(cfg.out_channels, 3, 3, padding=1)
        self.requires_grad_(False)

    def middle(self, feature: Tensor) -> Tensor:
        """Output of the last middle block (B, 2·C_in, h, w)."""
        x = self.fc(feature)
        for i in range(self.cfg.num_middle_blocks):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        return x

    def forward(self, feature: Tensor) -> Tensor:
        """(B, C, h, w) warped features → (B, 3, 4h, 4w) image in [0, 1]."""
        x = self.middle(feature)
        x = self.up_0(F.interpolate(x, scale_factor=2, mode="nearest"), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2, mode="nearest"), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, SLOPE)))
