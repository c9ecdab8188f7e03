"""Feature-space augmentation of MouthNet input rows, drawn afresh for every training crop.

- **Mel-axis warp** (vocal-tract-length perturbation in feature space): the
  spectral-shape columns are resampled so that every frequency is scaled by a
  factor ``alpha`` drawn log-uniformly from ``[e^-warp, e^warp]``. Each crop
  thus sounds like a speaker with a longer or shorter vocal tract, without a
  second copy of the audio.
- **Frequency masks** (as in SpecAugment): ``freq_masks`` bands of up to
  ``freq_mask_bands`` mel bands each are set to the crop's mean shape, so the
  model cannot lean on a few bands that one voice or microphone happens to
  carry.

Level and voicing columns are left as they are; targets are untouched (no
timing changes).
"""

from __future__ import annotations

import numpy as np
import torch

from pyavatar.audio.features import mel_edges
from pyavatar.motion.learned.model import N_MELS

_CENTRES = torch.from_numpy(mel_edges(N_MELS)[1:-1])


def warp_positions(alpha: float) -> torch.Tensor:
    """(N_MELS,) fractional band index each output band reads from when frequencies are scaled by ``alpha``."""
    src = _CENTRES / alpha
    idx = np.interp(src.numpy(), _CENTRES.numpy(), np.arange(N_MELS, dtype=np.float64))
    return torch.from_numpy(idx)


def warp(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Rows (T, N_IN) with the shape columns resampled for frequency scale ``alpha`` (> 1: shorter tract)."""
    pos = warp_positions(alpha).to(x.dtype)
    lo = pos.floor().long().clamp(max=N_MELS - 1)
    hi = (lo + 1).clamp(max=N_MELS - 1)
    frac = pos - lo.to(x.dtype)
    shape = x[:, :N_MELS]
    out = x.clone()
    out[:, :N_MELS] = shape[:, lo] * (1 - frac) + shape[:, hi] * frac
    return out


def mask_bands(x: torch.Tensor, masks: int, max_bands: int, gen: torch.Generator) -> torch.Tensor:
    """Rows with ``masks`` random runs of 1..``max_bands`` mel bands set to the crop's mean shape."""
    out = x.clone()
    mean = x[:, :N_MELS].mean(dim=0)
    for _ in range(masks):
        width = int(torch.randint(1, max_bands + 1, (1,), generator=gen))
        start = int(torch.randint(0, N_MELS - width + 1, (1,), generator=gen))
        out[:, start : start + width] = mean[start : start + width]
    return out


def augment(x: torch.Tensor, warp_range: float, masks: int, max_bands: int, gen: torch.Generator) -> torch.Tensor:
    """One crop's rows (T, N_IN) warped and masked as configured (``warp_range`` 0 and ``masks`` 0: unchanged)."""
    if warp_range > 0:
        u = float(torch.rand((1,), generator=gen, dtype=torch.float64))
        x = warp(x, float(np.exp((2 * u - 1) * warp_range)))
    if masks > 0:
        x = mask_bands(x, masks, max_bands, gen)
    return x
