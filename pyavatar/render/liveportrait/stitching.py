"""S: the stitching and eye/lip retargeting MLPs and how their outputs are applied."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn

from pyavatar.render.liveportrait.config import MLPConfig, StitchingConfig

# Sub-dict names of the released checkpoint (one file holding the three MLPs).
CHECKPOINT_NAMES = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}


class MLP(nn.Module):
    """Linear → ReLU → … → Linear (keys ``mlp.0``, ``mlp.2``, …)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        sizes = [cfg.input_size, *cfg.hidden_sizes, cfg.output_size]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(pairwise(sizes)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """The MLP of ``x`` (B, input) → (B, output)."""
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs; always evaluated in float32 (outside autocast)."""

    def __init__(self, cfg: StitchingConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or StitchingConfig()
        self.stitching = MLP(cfg.stitching)
        self.lip = MLP(cfg.lip)
        self.eye = MLP(cfg.eye)

    def stitch(self, x_s: Tensor, x_d: Tensor) -> Tensor:
        """Driving keypoints (B, K, 3) corrected so the animated face joins the source's shoulders.

        The MLP sees (x_s, x_d) flattened; outputs 0..3K−1 are a per-keypoint
        delta, outputs 3K and 3K+1 shift x and y of every keypoint.
        """
        b, k, _ = x_d.shape
        with torch.autocast(x_d.device.type, enabled=False):
            delta = self.stitching(torch.cat([x_s.reshape(b, -1), x_d.reshape(b, -1)], dim=1).float())
        moved = x_d + delta[:, : 3 * k].reshape(b, k, 3)
        shift = torch.cat([delta[:, 3 * k : 3 * k + 2], torch.zeros_like(delta[:, :1])], dim=1)
        return moved + shift.unsqueeze(1)

    def eye_delta(self, x_s: Tensor, eye_ratios: Tensor) -> Tensor:
        """Keypoint delta (B, K, 3) for eye openness (B, 3) = (source left, source right, target)."""
        return self._delta(self.eye, x_s, eye_ratios)

    def lip_delta(self, x_s: Tensor, lip_ratios: Tensor) -> Tensor:
        """Keypoint delta (B, K, 3) for mouth openness (B, 2) = (source, target)."""
        return self._delta(self.lip, x_s, lip_ratios)

    @staticmethod
    def _delta(mlp: MLP, x_s: Tensor, ratios: Tensor) -> Tensor:
        b, k, _ = x_s.shape
        with torch.autocast(x_s.device.type, enabled=False):
            out = mlp(torch.cat([x_s.reshape(b, -1), ratios.reshape(b, -1)], dim=1).float())
        return out.reshape(b, k, 3)
