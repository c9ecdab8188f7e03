"""Feature-space augmentation of MouthNet crops: mel-axis warp and frequency masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyavatar.audio.features import mel_edges
from pyavatar.motion.learned.model import N_IN, N_MELS
from pyavatar.training.config import TrainConfig
from pyavatar.training.data import Clip
from pyavatar.training.specaug import augment, mask_bands, warp
from pyavatar.training.trainer import batch

CENTRES = mel_edges(N_MELS)[1:-1]


def _bump(band: float, frames: int = 6) -> torch.Tensor:
    """Rows whose spectral shape is a narrow peak at mel band ``band``; level and voicing columns set."""
    x = torch.zeros(frames, N_IN, dtype=torch.float64)
    k = torch.arange(N_MELS, dtype=torch.float64)
    x[:, :N_MELS] = torch.exp(-0.5 * ((k - band) / 1.5) ** 2)
    x[:, N_MELS:] = torch.tensor([-0.3, 0.7, 0.9], dtype=torch.float64)
    return x


def _peak_hz(x: torch.Tensor) -> float:
    """Centre frequency of the peak, refined by a parabola through the three top bands."""
    s = x[0, :N_MELS].numpy()
    i = int(np.argmax(s))
    d = 0.5 * (s[i - 1] - s[i + 1]) / (s[i - 1] - 2 * s[i] + s[i + 1])
    return float(np.interp(i + d, np.arange(N_MELS), CENTRES))


@pytest.mark.parametrize("alpha", [0.85, 0.92, 1.08, 1.15])
def test_warp_scales_every_frequency_by_alpha(alpha: float) -> None:
    for band in (20.0, 35.0, 50.0):
        x = _bump(band)
        f0 = _peak_hz(x)
        y = warp(x, alpha)
        assert _peak_hz(y) == pytest.approx(alpha * f0, rel=0.03)
        assert torch.equal(y[:, N_MELS:], x[:, N_MELS:])  # level and voicing untouched


def test_warp_by_one_is_the_identity() -> None:
    x = torch.randn(7, N_IN, dtype=torch.float64)
    assert torch.allclose(warp(x, 1.0), x)


def test_masks_set_runs_of_bands_to_the_crop_mean() -> None:
    x = torch.randn(50, N_IN, dtype=torch.float64)
    y = mask_bands(x, 3, 6, torch.Generator().manual_seed(4))
    changed = (y != x).any(dim=0).nonzero().flatten().tolist()
    assert changed and max(changed) < N_MELS and len(changed) <= 3 * 6
    mean = x[:, :N_MELS].mean(dim=0)
    for c in changed:
        assert torch.allclose(y[:, c], mean[c].expand(50))
    # the same generator state draws the same masks
    assert torch.equal(mask_bands(x, 3, 6, torch.Generator().manual_seed(4)), y)


def _clips() -> list[Clip]:
    rng = np.random.default_rng(0)
    return [
        Clip(None, rng.standard_normal((400, N_IN)).astype(np.float32), rng.random((400, 5)).astype(np.float32))  # type: ignore[arg-type]
        for _ in range(3)
    ]


def test_batches_are_augmented_only_when_configured() -> None:
    clips = _clips()
    plain = TrainConfig(batch=4, crop_frames=100)
    x, y, m = batch(clips, plain, torch.Generator().manual_seed(1))
    # without augmentation every crop is a verbatim slice of a clip
    for b in range(4):
        assert any(any(np.array_equal(x[b].numpy(), c.x[o : o + 100]) for o in range(len(c.x) - 99)) for c in clips)
    # the first crop is drawn before its augmentation, so one-crop batches pick the same slice
    one = TrainConfig(batch=1, crop_frames=100)
    aug = TrainConfig(batch=1, crop_frames=100, warp=0.15, freq_masks=2)
    x1, y1, m1 = batch(clips, one, torch.Generator().manual_seed(1))
    xa, ya, ma = batch(clips, aug, torch.Generator().manual_seed(1))
    assert torch.equal(ya, y1) and torch.equal(ma, m1)  # targets untouched
    assert not torch.allclose(xa[:, :, :N_MELS], x1[:, :, :N_MELS])
    assert torch.equal(xa[:, :, N_MELS:], x1[:, :, N_MELS:])
    assert torch.equal(batch(clips, aug, torch.Generator().manual_seed(1))[0], xa)  # deterministic for a seed


def test_augment_with_everything_off_returns_the_rows() -> None:
    x = torch.randn(5, N_IN)
    assert torch.equal(augment(x, 0.0, 0, 8, torch.Generator()), x)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"warp": 0.6}, "warp must be within"),
        ({"warp": -0.1}, "warp must be within"),
        ({"freq_masks": -1}, "freq_masks"),
        ({"freq_mask_bands": 0}, "freq_mask_bands"),
        ({"freq_mask_bands": N_MELS + 1}, "freq_mask_bands"),
    ],
)
def test_bad_augmentation_settings_are_refused(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        TrainConfig(**kw)
