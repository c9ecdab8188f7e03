"""F: appearance feature extractor, source image → 3-D feature volume."""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from pyavatar.render.liveportrait.config import AppearanceConfig
from pyavatar.render.liveportrait.layers import ConvBN, ResBlock3d


class AppearanceFeatureExtractor(nn.Module):
    """Image (B, 3, H, W) in [0, 1] → feature volume (B, C, D, H/4, W/4) (released: C 32, D 16)."""

    def __init__(self, cfg: AppearanceConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or AppearanceConfig()
        self.cfg = cfg
        e, m = cfg.block_expansion, cfg.max_features
        self.first = ConvBN(2, cfg.image_channel, e)
        widths = [min(m, e * 2**i) for i in range(cfg.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(ConvBN(2, a, b, resample="down") for a, b in pairwise(widths))
        self.second = nn.Conv2d(widths[-1], m, 1)
        self.resblocks_3d = nn.Sequential()
        for i in range(cfg.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(cfg.reshape_channel))
        self.requires_grad_(False)

    def features_2d(self, image: Tensor) -> Tensor:
        """The 2-D map (B, C·D, H/4, W/4) before it is folded into the volume."""
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        return self.second(x)

    def forward(self, image: Tensor) -> Tensor:
        """(B, 3, H, W) image in [0, 1] → (B, C, D, H/4, W/4) appearance feature volume."""
        x = self.features_2d(image)
        b, _, h, w = x.shape
        x = x.view(b, self.cfg.reshape_channel, self.cfg.reshape_depth, h, w)
        return self.resblocks_3d(x)
