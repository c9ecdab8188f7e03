"""The trainer's loss terms: silence weighting of the jaw loss."""

from __future__ import annotations

import pytest
import torch

from pyavatar.training.config import TrainConfig
from pyavatar.training.trainer import losses


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(2, 12, 11, generator=gen)
    y = torch.zeros(2, 12, 5)
    y[..., 0] = torch.rand(2, 12, generator=gen)
    y[:, :6, 4] = 1.0  # speech in the first half, silence in the second
    return out, y, torch.ones(2, 12)


def test_sil_weight_scales_only_the_jaw_error_on_silence() -> None:
    out, y, m = _case()
    base = losses(out, y, m, lookahead=2)
    assert torch.equal(losses(out, y, m, lookahead=2, sil_weight=1.0)["jaw"], base["jaw"])
    heavy = losses(out, y, m, lookahead=2, sil_weight=5.0)
    assert heavy["jaw"] > base["jaw"]
    for k in ("cls", "shape", "speaking"):
        assert torch.equal(heavy[k], base[k])
    # with the jaw exact on every silence frame (output t + lookahead predicts target t) the weight is moot
    y2 = y.clone()
    exact = torch.sigmoid(out[:, 2:, 0])
    y2[:, :10, 0] = torch.where(y[:, :10, 4] > 0.5, y[:, :10, 0], exact)
    a = losses(out, y2, m, lookahead=2)["jaw"]
    assert torch.allclose(losses(out, y2, m, lookahead=2, sil_weight=5.0)["jaw"], a, rtol=1e-6)


def test_sil_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sil_weight must be positive"):
        TrainConfig(sil_weight=0.0)
