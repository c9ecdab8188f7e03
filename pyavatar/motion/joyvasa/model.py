"""JoyVASA's motion generator (``DitTalkingHead``) re-implemented for inference.

Audio (16 kHz) → HuBERT last hidden state at 50 Hz → pair-averaged to 25 Hz →
``audio_feature_map`` → a post-LN transformer decoder over ``n_prev_motions +
n_motions`` tokens that predicts clean motion (x0) from noisy motion, with
diagonal cross-attention to the audio features. Parameter names match the
released checkpoint, so its ``model`` state dict loads unchanged (see
:func:`pyavatar.motion.joyvasa.load_joyvasa`).

Positional encoding: JoyVASA before 2025-12 added one row ``pe[L]`` to every
token (``pe_mode="legacy"``, what the released checkpoint was trained with);
later code adds ``pe[0:L]`` (``pe_mode="fixed"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyavatar.motion.common.ssl import SSLConfig, SSLEncoder

SAMPLE_RATE = 16_000
PE_MODES = ("legacy", "fixed")
_STEP_TABLE_ROWS = 501  # DenoisingNetwork's own default (its n_diff_steps argument is never passed)


@dataclass(frozen=True)
class JoyVASAConfig:
    """Hyper-parameters of a JoyVASA motion generator (from the checkpoint's ``args`` and weights)."""

    motion_feat_dim: int = 73
    n_motions: int = 100
    n_prev_motions: int = 10
    feature_dim: int = 512
    n_heads: int = 8
    n_layers: int = 8
    mlp_ratio: int = 4
    n_diff_steps: int = 50
    diff_schedule: str = "cosine"
    fps: int = 25
    pad_mode: str = "zero"
    pe_mode: str = "legacy"
    cfg_scale: float = 2.8
    audio: SSLConfig = field(default_factory=SSLConfig)

    def __post_init__(self) -> None:
        if self.pe_mode not in PE_MODES:
            raise ValueError(f"JoyVASAConfig: pe_mode must be one of {PE_MODES}, got {self.pe_mode!r}")
        if self.diff_schedule != "cosine":
            raise ValueError(f"JoyVASAConfig: only the cosine schedule is supported, got {self.diff_schedule!r}")
        if self.pad_mode not in ("zero", "replicate"):
            raise ValueError(f"JoyVASAConfig: pad_mode must be 'zero' or 'replicate', got {self.pad_mode!r}")
        if self.feature_dim % self.n_heads:
            raise ValueError(f"JoyVASAConfig: feature_dim {self.feature_dim} not divisible by n_heads {self.n_heads}")
        if SAMPLE_RATE * self.n_motions % self.fps:
            raise ValueError(
                f"JoyVASAConfig: n_motions {self.n_motions} at {self.fps} fps is not a whole number of samples"
            )

    @property
    def window_samples(self) -> int:
        """Audio samples per window (64000 for 100 frames at 25 fps)."""
        return SAMPLE_RATE * self.n_motions // self.fps

    @property
    def samples_per_frame(self) -> float:
        """Audio samples per motion frame (640 at 25 fps)."""
        return SAMPLE_RATE / self.fps


def sinusoid_table(rows: int, dim: int) -> Tensor:
    """(rows, dim) sinusoid table: column 2c = sin(p w_c), 2c+1 = cos(p w_c), w_c = 10000^(-2c/dim)."""
    position = torch.arange(rows, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(rows, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


def pad_for_hubert(audio: Tensor, unit: int = 320, threshold: int = 80) -> Tensor:
    """JoyVASA's padding of a (B, N) window before HuBERT: reflect ``side // 2`` twice, replicate ``side % 2``.

    ``side = ceil((unit * (N // unit) + threshold - N) / 2)``; 64000 samples → 64080.
    """
    n = audio.shape[-1]
    side = math.ceil((unit * (n // unit) + threshold - n) / 2)
    if side < 0:
        return audio
    reflect, replicate = side // 2, side % 2
    if reflect > 0:
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
    if replicate:
        audio = F.pad(audio[:, None], (1, 1), mode="replicate")[:, 0]
    return audio


class _SinusoidTable(nn.Module):
    """Holds a sinusoid table as buffer ``pe`` (1, rows, dim), the checkpoint's name."""

    def __init__(self, rows: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(rows, dim).unsqueeze(0))


class JoyVASADenoiser(nn.Module):
    """``DenoisingNetwork``: (noisy motion, audio features, previous motion/audio, step) → x0 for all tokens."""

    def __init__(self, cfg: JoyVASAConfig) -> None:
        super().__init__()
        d = cfg.feature_dim
        self.cfg = cfg
        self.TE = _SinusoidTable(max(_STEP_TABLE_ROWS, cfg.n_diff_steps + 1), d)
        self.PE = _SinusoidTable(600, d)
        self.diff_step_map = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.feature_proj = nn.Linear(cfg.motion_feat_dim, d)
        layer = nn.TransformerDecoderLayer(
            d, cfg.n_heads, cfg.mlp_ratio * d, dropout=0.0, activation="gelu", batch_first=True
        )
        self.transformer = nn.TransformerDecoder(layer, cfg.n_layers)
        self.motion_dec = nn.Sequential(nn.Linear(d, d // 2), nn.GELU(), nn.Linear(d // 2, cfg.motion_feat_dim))
        length = cfg.n_prev_motions + cfg.n_motions
        self.register_buffer("alignment_mask", ~torch.eye(length, dtype=torch.bool))

    def forward(self, x: Tensor, audio: Tensor, prev_motion: Tensor, prev_audio: Tensor, step: Tensor) -> Tensor:
        """x0 prediction (B, Lp + L, M).

        Args:
            x: (B, L, M) noisy motion.
            audio: (B, L, D) audio features.
            prev_motion: (B, Lp, M) motion of the previous window's tail.
            prev_audio: (B, Lp, D) audio features of the same frames.
            step: (B,) integer diffusion steps 1..n_diff_steps.
        """
        temb = self.diff_step_map(self.TE.pe[0, step]).unsqueeze(1)
        h = self.feature_proj(torch.cat([prev_motion, x], dim=1))
        length = h.shape[1]
        if length >= self.PE.pe.shape[1]:
            raise ValueError(
                f"JoyVASADenoiser: {length} tokens exceed the positional table ({self.PE.pe.shape[1]} rows)"
            )
        pe = self.PE.pe[:, length : length + 1] if self.cfg.pe_mode == "legacy" else self.PE.pe[:, :length]
        h = h + pe + temb
        memory = torch.cat([prev_audio, audio], dim=1)
        mask = self.alignment_mask
        if mask.shape[0] != length:
            mask = ~torch.eye(length, dtype=torch.bool, device=h.device)
        return self.motion_dec(self.transformer(h, memory, memory_mask=mask))


class CosineSchedule(nn.Module):
    """JoyVASA's cosine schedule with a prepended beta_0 = 0; buffers use the checkpoint's names."""

    def __init__(self, steps: int, s: float = 0.008) -> None:
        super().__init__()
        x = torch.linspace(0, steps, steps + 1)
        abar = torch.cos(((x / steps) + s) / (1 + s) * math.pi * 0.5) ** 2
        abar = abar / abar[0]
        betas = torch.clip(1 - abar[1:] / abar[:-1], 0.0001, 0.999)
        betas = torch.cat([torch.zeros(1), betas])
        alphas = 1 - betas
        alpha_bars = torch.exp(torch.cumsum(torch.log(alphas), dim=0))
        sig_inflex = torch.zeros_like(betas)
        sig_inflex[1:] = torch.sqrt((1 - alpha_bars[:-1]) / (1 - alpha_bars[1:]) * betas[1:])
        self.num_steps = steps
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alpha_bars", alpha_bars)
        self.register_buffer("sigmas_flex", torch.sqrt(betas))
        self.register_buffer("sigmas_inflex", sig_inflex)


class JoyVASA(nn.Module):
    """JoyVASA's ``DitTalkingHead`` for inference: audio encoder, feature map, denoiser, schedule.

    Use :meth:`audio_features` for one window of audio, :meth:`denoise` for one
    network call and :func:`pyavatar.motion.joyvasa.sample_window` /
    :func:`~pyavatar.motion.joyvasa.generate` for sampling.
    """

    def __init__(self, cfg: JoyVASAConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.feature_dim
        self.audio_encoder = SSLEncoder(cfg.audio)
        self.audio_feature_map = nn.Linear(cfg.audio.hidden_size, d)
        self.start_audio_feat = nn.Parameter(torch.zeros(1, cfg.n_prev_motions, d))
        self.start_motion_feat = nn.Parameter(torch.zeros(1, cfg.n_prev_motions, cfg.motion_feat_dim))
        self.null_audio_feat = nn.Parameter(torch.zeros(1, 1, d))
        self.denoising_net = JoyVASADenoiser(cfg)
        self.diffusion_sched = CosineSchedule(cfg.n_diff_steps)

    def hubert_hidden(self, audio: Tensor) -> Tensor:
        """(B, 2L, C) last HuBERT hidden state at 50 Hz of a (B, window_samples) window."""
        want = self.cfg.window_samples
        if audio.dim() != 2 or audio.shape[1] != want:
            raise ValueError(f"JoyVASA: audio window must be (B, {want}), got {tuple(audio.shape)}")
        return self.audio_encoder(pad_for_hubert(audio))

    def audio_features(self, audio: Tensor) -> Tensor:
        """(B, L, D) projected 25 Hz features of a (B, window_samples) window."""
        hidden = self.hubert_hidden(audio).transpose(1, 2)
        hidden = F.interpolate(hidden, size=self.cfg.n_motions, mode="linear", align_corners=False)
        return self.audio_feature_map(hidden.transpose(1, 2))

    def denoise(self, x: Tensor, audio: Tensor, prev_motion: Tensor, prev_audio: Tensor, step: Tensor) -> Tensor:
        """One network call; see :meth:`JoyVASADenoiser.forward`."""
        return self.denoising_net(x, audio, prev_motion, prev_audio, step)
