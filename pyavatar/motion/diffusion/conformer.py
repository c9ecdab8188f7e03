"""Conformer denoiser predicting clean motion (x0) from noisy motion and conditions.

Each block is macaron-style and pre-norm::

    x = film(x, c)
    x = x + 0.5 FFN(LN x)
    x = x + RelPosMHSA(LN x)          # pyavatar.kernels.relpos_attention
    x = x + ConvModule(LN x)          # pointwise→GLU→depthwise→LN→SiLU→pointwise
    x = LN(x + 0.5 FFN(LN x))

Per-frame inputs: noisy motion, known (previous) motion with its mask, and
audio tokens; global conditions (diffusion step, emotion vector, reference
expression, reference head pose, gaze) form one vector ``c`` that is added to
every token and modulates each block (FiLM). Every condition except the
step has a learned null embedding used for classifier-free guidance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyavatar import kernels


@dataclass(frozen=True)
class ConformerConfig:
    """Denoiser sizes. ``motion_dim`` is the output space's width; ``audio_dim`` the front end's token width."""

    motion_dim: int
    audio_dim: int
    d_model: int = 192
    heads: int = 4
    blocks: int = 4
    ff_mult: int = 4
    conv_kernel: int = 7
    emotion_dim: int = 5

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"ConformerConfig: d_model {self.d_model} is not divisible by heads {self.heads}")
        if self.conv_kernel % 2 == 0:
            raise ValueError(f"ConformerConfig: conv_kernel must be odd, got {self.conv_kernel}")
        for name in ("motion_dim", "audio_dim", "d_model", "blocks", "ff_mult", "emotion_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ConformerConfig: {name} must be positive, got {getattr(self, name)}")


@dataclass
class Conditions:
    """Per-row conditions of a denoiser batch (B rows). ``*_on`` False selects the learned null embedding.

    audio (B, T, A) tokens; known (B, T, M) with known_mask (B, T) in {0, 1};
    emotion (B, E); emotion_ref (B, M) normalised reference expression with
    ref_present (B,); pose (B, 3) pitch/yaw/roll in degrees; gaze (B, 2) yaw/pitch in degrees.
    """

    audio: Tensor
    audio_on: Tensor
    known: Tensor
    known_mask: Tensor
    emotion: Tensor
    emotion_on: Tensor
    emotion_ref: Tensor
    ref_present: Tensor
    pose: Tensor
    pose_on: Tensor
    gaze: Tensor
    gaze_on: Tensor

    def take(self, rows: Tensor) -> Conditions:
        """The rows ``rows`` (an index tensor) of every field."""
        return Conditions(**{k: v[rows] for k, v in vars(self).items()})


def relative_table(t: int, d: int, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(2T-1, d) relative sinusoid table; row m encodes distance T-1-m (espnet's layout)."""
    r = torch.arange(t - 1, -t, -1, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(2 * t - 1, d, device=device)
    table[:, 0::2] = torch.sin(r * freq)
    table[:, 1::2] = torch.cos(r * freq)
    return table.to(dtype)


def step_embedding(t: Tensor, d: int) -> Tensor:
    """(B, d) sinusoid embedding of (possibly fractional) diffusion steps."""
    half = d // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    arg = t.float()[:, None] * freq[None]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class RelPosSelfAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL relative positions through the fused kernel."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.dk = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.linear_pos = nn.Linear(d, d, bias=False)
        self.pos_bias_u = nn.Parameter(torch.randn(heads, self.dk) * 0.02)
        self.pos_bias_v = nn.Parameter(torch.randn(heads, self.dk) * 0.02)
        self.out = nn.Linear(d, d)

    def forward(self, x: Tensor, table: Tensor, backend: str | None) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.dk).unbind(2)
        pos = self.linear_pos(table).view(2 * t - 1, self.heads, self.dk)
        o = kernels.relpos_attention(q, k, v, pos, self.pos_bias_u, self.pos_bias_v, backend=backend)
        return self.out(o.reshape(b, t, d))


class _FeedForward(nn.Sequential):
    def __init__(self, d: int, mult: int) -> None:
        super().__init__(nn.LayerNorm(d), nn.Linear(d, mult * d), nn.SiLU(), nn.Linear(mult * d, d))


class ConvModule(nn.Module):
    """Pointwise (2d) → GLU → depthwise conv → LayerNorm → SiLU → pointwise, on (B, T, d)."""

    def __init__(self, d: int, kernel: int) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(d)
        self.pointwise_in = nn.Linear(d, 2 * d)
        self.depthwise = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.norm = nn.LayerNorm(d)
        self.pointwise_out = nn.Linear(d, d)

    def forward(self, x: Tensor) -> Tensor:
        h = F.glu(self.pointwise_in(self.norm_in(x)), dim=-1)
        h = self.depthwise(h.transpose(1, 2)).transpose(1, 2)
        return self.pointwise_out(F.silu(self.norm(h)))


class ConformerBlock(nn.Module):
    """One macaron conformer block with FiLM conditioning."""

    def __init__(self, cfg: ConformerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.film = nn.Linear(d, 2 * d)
        self.ff1 = _FeedForward(d, cfg.ff_mult)
        self.norm_att = nn.LayerNorm(d)
        self.attn = RelPosSelfAttention(d, cfg.heads)
        self.conv = ConvModule(d, cfg.conv_kernel)
        self.ff2 = _FeedForward(d, cfg.ff_mult)
        self.norm_out = nn.LayerNorm(d)

    def forward(self, x: Tensor, c: Tensor, table: Tensor, backend: str | None) -> Tensor:
        gamma, beta = self.film(c).unsqueeze(1).chunk(2, dim=-1)
        x = x * (1 + gamma) + beta
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(self.norm_att(x), table, backend)
        x = x + self.conv(x)
        return self.norm_out(x + 0.5 * self.ff2(x))


class ConformerDenoiser(nn.Module):
    """x0 prediction (B, T, M) from noisy motion ``x`` (B, T, M), steps ``t`` (B,) and :class:`Conditions`.

    ``kernel_backend`` forces the backend of the attention kernel (``None``:
    automatic; ``"torch"``: the PyTorch reference).
    """

    def __init__(self, cfg: ConformerConfig, kernel_backend: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.kernel_backend = kernel_backend
        d, m = cfg.d_model, cfg.motion_dim
        self.in_proj = nn.Linear(2 * m + 1, d)
        self.audio_proj = nn.Sequential(nn.LayerNorm(cfg.audio_dim), nn.Linear(cfg.audio_dim, d))
        self.null_audio = nn.Parameter(torch.randn(d) * 0.02)
        self.step_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.emotion_proj = nn.Linear(cfg.emotion_dim, d)
        self.null_emotion = nn.Parameter(torch.randn(d) * 0.02)
        self.ref_proj = nn.Linear(m, d)
        self.null_ref = nn.Parameter(torch.randn(d) * 0.02)
        self.pose_proj = nn.Linear(3, d)
        self.null_pose = nn.Parameter(torch.randn(d) * 0.02)
        self.gaze_proj = nn.Linear(2, d)
        self.null_gaze = nn.Parameter(torch.randn(d) * 0.02)
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.blocks))
        self.norm_out = nn.LayerNorm(d)
        self.out = nn.Linear(d, m)
        self._tables: dict[tuple, Tensor] = {}

    def _table(self, t: int, like: Tensor) -> Tensor:
        key = (t, like.device, like.dtype)
        if key not in self._tables:
            self._tables[key] = relative_table(t, self.cfg.d_model, device=like.device, dtype=like.dtype)
        return self._tables[key]

    @staticmethod
    def _pick(on: Tensor, value: Tensor, null: Tensor) -> Tensor:
        return torch.where(on.view(-1, *([1] * (value.dim() - 1))), value, null)

    def condition_vector(self, t: Tensor, cond: Conditions) -> Tensor:
        """(B, d) global condition: step + emotion + reference expression + pose + gaze embeddings."""
        d = self.cfg.d_model
        c = self.step_mlp(step_embedding(t, d))
        c = c + self._pick(cond.emotion_on, self.emotion_proj(cond.emotion), self.null_emotion)
        ref_on = cond.emotion_on & cond.ref_present
        c = c + self._pick(ref_on, self.ref_proj(cond.emotion_ref), self.null_ref)
        c = c + self._pick(cond.pose_on, self.pose_proj(cond.pose / 90.0), self.null_pose)
        return c + self._pick(cond.gaze_on, self.gaze_proj(cond.gaze / 45.0), self.null_gaze)

    def forward(self, x: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        b, n, _ = x.shape
        mask = cond.known_mask.to(x.dtype).unsqueeze(-1)
        h = self.in_proj(torch.cat([x, cond.known * mask, mask], dim=-1))
        h = h + self._pick(cond.audio_on, self.audio_proj(cond.audio), self.null_audio)
        c = self.condition_vector(t, cond)
        h = h + c.unsqueeze(1)
        table = self._table(n, h)
        for block in self.blocks:
            h = block(h, c, table, self.kernel_backend)
        return self.out(self.norm_out(h))
