"""MouthNet: a small causal temporal convolution network (TCN) with a fixed look-ahead.

Input rows (100 Hz, :func:`input_rows`): the 80 log-mel bands minus their mean
(spectral shape, gain-free), the frame level relative to a decaying peak of
the stream so far, the absolute level and voicing. Output row ``t`` is
computed from input rows up to ``t + lookahead``; its 11 channels are jaw
logit, 7 class logits (aa ih ou ee oh cons sil), wide and round logits and the
speaking logit. Every layer is causal with an explicit cache, so streaming in
any chunking gives the offline result.

With ``norm_frames`` > 0 the spectral shape is first normalised per speaker in
a streaming-safe way: minus the voicing-weighted running mean of the shape
(decay time ``norm_frames`` frames), which starts from a learned prior worth
:data:`NORM_PRIOR_FRAMES` voiced frames (decaying like any other frame). A speaker's or channel's long-term
spectrum (vocal tract length, microphone, EQ) is thereby removed as the stream goes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from pyavatar.audio.features import N_MELS

N_IN = N_MELS + 3
N_OUT = 11
CLASSES = ("aa", "ih", "ou", "ee", "oh", "cons", "sil")
_PEAK_DECAY = 0.0023  # natural-log units per 10 ms frame (1 dB/s)
NORM_PRIOR_FRAMES = 50.0
_PRIOR_FLOOR = 1e-3  # weight of the prior that never decays (the mean stays defined after hours of silence)
_NORM_BLOCK = 512  # frames per vectorised block of the running mean (keeps a^-k within float64)


@dataclass(frozen=True)
class MouthConfig:
    """Architecture of :class:`MouthNet` (stored in the checkpoint's JSON)."""

    hidden: int = 96
    kernel: int = 3
    layers: int = 5  # dilations 1, 2, 4, ... (receptive field 1 + (kernel - 1) (2^layers - 1) frames)
    lookahead: int = 4  # 100 Hz frames (40 ms)
    norm_frames: int = 0  # speaker normalisation time constant (100 Hz frames); 0 = off

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


class InputNorm:
    """Streaming input rows from 100 Hz features (keeps the decaying level peak)."""

    def __init__(self) -> None:
        self.peak = -np.inf

    def __call__(self, log_mel: np.ndarray, voicing: np.ndarray) -> np.ndarray:
        """Network input rows (T, N_IN) for the next (T, bands) log-mel and (T,) voicing frames."""
        level = log_mel.mean(axis=1).astype(np.float64)
        rel = np.empty_like(level)
        for i, v in enumerate(level):
            self.peak = max(v, self.peak - _PEAK_DECAY)
            rel[i] = v - self.peak
        shape = (log_mel - level[:, None]) / 4.0
        cols = [
            shape,
            np.clip(rel / 5.0, -3, 0)[:, None],
            np.clip((level + 10) / 5.0, -3, 3)[:, None],
            voicing[:, None],
        ]
        return np.concatenate(cols, axis=1).astype(np.float32)


class _CausalConv(nn.Module):
    """Dilated causal convolution over (B, T, C) rows, as one matrix product of the stacked taps."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.lin = nn.Linear(c_in * kernel, c_out)
        self.kernel, self.dilation = kernel, dilation
        self.ctx = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, C) with ``cache`` (B, ctx, C) of previous inputs (zeros at the stream start)."""
        if cache is None:
            cache = x.new_zeros(x.shape[0], self.ctx, x.shape[2])
        full = torch.cat([cache, x], dim=1)
        t = x.shape[1]
        taps = [full[:, k * self.dilation : k * self.dilation + t] for k in range(self.kernel)]
        return self.lin(torch.cat(taps, dim=2)), full[:, full.shape[1] - self.ctx :]


class SpeakerNorm(nn.Module):
    """Streaming per-speaker normalisation of the spectral-shape columns (see the module docstring)."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.decay = float(np.exp(-1.0 / frames))
        self.prior = nn.Parameter(torch.zeros(N_MELS))

    def forward(self, x: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
        """``x`` (B, T, N_IN) with ``state`` (decayed sums of weighted shapes and of weights) -> normalised rows."""
        b = x.shape[0]
        shape = x[..., :N_MELS].to(torch.float64)
        w = x[..., N_IN - 1 :].to(torch.float64)  # voicing
        prior = self.prior.to(torch.float64)
        if state is None:
            ones = x.new_ones(b, 1, dtype=torch.float64)
            state = (NORM_PRIOR_FRAMES * ones * prior, NORM_PRIOR_FRAMES * ones)
        swx, sw = state
        means = []
        for a in range(0, x.shape[1], _NORM_BLOCK):
            xs, ws = shape[:, a : a + _NORM_BLOCK], w[:, a : a + _NORM_BLOCK]
            k = torch.arange(xs.shape[1], dtype=torch.float64, device=x.device)
            grow, now = (self.decay ** (-k))[None, :, None], (self.decay**k)[None, :, None]
            # S_k = a S_(k-1) + w_k x_k, i.e. a^(k+1) S_prev + a^k sum_(j<=k) a^-j w_j x_j
            cwx = now * self.decay * swx[:, None] + now * torch.cumsum(grow * ws * xs, dim=1)
            cw = now * self.decay * sw[:, None] + now * torch.cumsum(grow * ws, dim=1)
            means.append((_PRIOR_FLOOR * prior + cwx) / (_PRIOR_FLOOR + cw))
            swx, sw = cwx[:, -1], cw[:, -1]
        mean = torch.cat(means, dim=1).to(x.dtype) if means else x[..., :N_MELS]
        return torch.cat([x[..., :N_MELS] - mean, x[..., N_MELS:]], dim=2), (swx, sw)


class MouthNet(nn.Module):
    """See the module docstring; ``forward(x (B, T, N_IN), state) -> (y (B, T, N_OUT), state)``."""

    def __init__(self, cfg: MouthConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.norm = SpeakerNorm(cfg.norm_frames) if cfg.norm_frames > 0 else None
        self.inp = nn.Linear(N_IN, h)
        self.convs = nn.ModuleList(_CausalConv(h, h, cfg.kernel, 2**i) for i in range(cfg.layers))
        self.out = nn.Linear(h, N_OUT)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """Outputs (B, T, N_OUT) for inputs (B, T, N_IN), carrying the causal state between calls."""
        caches = state if state is not None else (None,) * (len(self.convs) + 1)
        new: list = [None]
        if self.norm is not None:
            x, new[0] = self.norm(x, caches[0])
        z = self.act(self.inp(x))
        for conv, cache in zip(self.convs, caches[1:]):
            a, c = conv(z, cache)
            z = z + self.act(a)
            new.append(c)
        return self.out(z), tuple(new)


def decode(y: torch.Tensor) -> np.ndarray:
    """(T, 9) rows visemes(5), jaw, wide, round, speaking (the DSP engine's channels) from outputs."""
    y = y.detach().to(torch.float64)
    jaw = torch.sigmoid(y[:, 0])
    probs = torch.softmax(y[:, 1:8], dim=1)
    gain = torch.clamp(jaw * 1.5, max=1.0)
    vis = probs[:, :5] * gain[:, None]
    rest = torch.sigmoid(y[:, 8:11])
    return torch.cat([vis, jaw[:, None], rest[:, :2] * gain[:, None], rest[:, 2:]], dim=1).numpy()
