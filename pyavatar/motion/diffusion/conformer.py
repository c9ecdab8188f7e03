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
import warnings
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

    def project_positions(self, table: Tensor) -> Tensor:
        """(2T-1, H, Dk) projected relative positions of a :func:`relative_table`."""
        return self.linear_pos(table).view(table.shape[0], self.heads, self.dk)

    def forward(self, x: Tensor, table: Tensor | None, backend: str | None, pos: Tensor | None = None) -> Tensor:
        """(B, T, d) → (B, T, d); ``pos``: :meth:`project_positions` of ``table``, when already computed."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.dk).unbind(2)
        # Under autocast the projections come out in the autocast dtype while the biases stay float32:
        # the kernel takes one dtype, that of q (a no-op outside autocast).
        pos = (self.project_positions(table) if pos is None else pos).to(q.dtype)  # type: ignore[arg-type]
        u, v_bias = self.pos_bias_u.to(q.dtype), self.pos_bias_v.to(q.dtype)
        o = kernels.relpos_attention(q, k, v, pos, u, v_bias, backend=backend)
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
        """(B, T, d) → (B, T, d)."""
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

    def modulation(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """FiLM ``(1 + gamma, beta)``, each (B, 1, d), of the condition vector ``c`` (B, d)."""
        gamma, beta = self.film(c).unsqueeze(1).chunk(2, dim=-1)
        return 1 + gamma, beta

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        table: Tensor | None,
        backend: str | None,
        *,
        film: tuple[Tensor, Tensor] | None = None,
        pos: Tensor | None = None,
    ) -> Tensor:
        """(B, T, d) → (B, T, d).

        ``film`` and ``pos``: :meth:`modulation` of ``c`` and the attention's projected positions, when
        already computed.
        """
        scale, shift = self.modulation(c) if film is None else film
        x = x * scale + shift
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(self.norm_att(x), table, backend, pos)
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

    def audio_tokens(self, cond: Conditions) -> Tensor:
        """(B, T, d) projected audio, the learned null token in rows whose audio is off."""
        return self._pick(cond.audio_on, self.audio_proj(cond.audio), self.null_audio)

    def forward(self, x: Tensor, t: Tensor, cond: Conditions, cache: DenoiserCache | None = None) -> Tensor:
        """x0 prediction; ``cache`` (inference) reuses what does not depend on ``x`` (see :class:`DenoiserCache`)."""
        mask = cond.known_mask.to(x.dtype).unsqueeze(-1)
        table = self._table(x.shape[1], x)
        if cache is not None:
            c, scales, shifts = cache.step_terms(self, t, cond)
            audio = cache.audio_tokens(self, cond)
            return cache.run(self, x, cond.known, mask, audio, c, scales, shifts, cache.positions(self, table))
        h = self.in_proj(torch.cat([x, cond.known * mask, mask], dim=-1))
        h = h + self.audio_tokens(cond)
        c = self.condition_vector(t, cond)
        h = h + c.unsqueeze(1)
        for block in self.blocks:
            h = block(h, c, table, self.kernel_backend)
        return self.out(self.norm_out(h))

    def prepared(
        self,
        x: Tensor,
        known: Tensor,
        mask: Tensor,
        audio: Tensor,
        c: Tensor,
        scales: Tensor,
        shifts: Tensor,
        positions: Tensor,
        backend: str | None = None,
    ) -> Tensor:
        """:meth:`forward` from precomputed parts (the same operations in the same order).

        ``mask`` (B, T, 1); ``audio`` :meth:`audio_tokens`; ``c`` :meth:`condition_vector`; ``scales`` and
        ``shifts`` (blocks, B, 1, d) every block's FiLM; ``positions`` (blocks, 2T-1, H, Dk) every block's
        projected relative positions.
        """
        h = self.in_proj(torch.cat([x, known * mask, mask], dim=-1))
        h = h + audio + c.unsqueeze(1)
        for i, block in enumerate(self.blocks):
            h = block(h, c, None, backend, film=(scales[i], shifts[i]), pos=positions[i])
        return self.out(self.norm_out(h))


class _Prepared(nn.Module):
    """:meth:`ConformerDenoiser.prepared` with the PyTorch attention, as a module to trace."""

    def __init__(self, den: ConformerDenoiser) -> None:
        super().__init__()
        self.den = den

    def forward(self, *parts: Tensor) -> Tensor:
        return self.den.prepared(*parts, backend="torch")


class DenoiserCache:
    """What repeated inference calls of one :class:`ConformerDenoiser` share, computed once.

    A streaming generator evaluates the denoiser ``steps`` times per window on the same
    conditions, and every window on the same steps and (unless the controls change) the
    same global conditions. Cached: the projected audio tokens until :meth:`new_audio`;
    the condition vector and every block's FiLM terms per step value until
    :meth:`new_conditions`; the attention's projected relative positions per length until
    :meth:`clear`. Each entry is what the uncached forward computes from the same inputs
    with the same shapes, so results are bit-identical.

    ``graph=True`` also runs the rest of the forward as one traced TorchScript graph per
    input shape (the attention through the PyTorch reference, ``kernel_backend="torch"``):
    one call from Python instead of a few hundred small eager operations, which saves
    interpreter overhead (benchmarks/MOTION.md). Its output equals the eager forward with
    ``kernel_backend="torch"``. The first call per shape traces (about a second). PyTorch
    2.13 marks ``torch.jit.trace`` deprecated (its warning is silenced here); the eager path
    (``graph=False``) stays the reference. The weights must not change while a cache is in
    use (call :meth:`clear` after they do); it is an inference-only helper.
    """

    def __init__(self, *, graph: bool = False) -> None:
        self.graph = graph
        self._audio: Tensor | None = None
        self._steps: dict[tuple[float, ...], tuple[Tensor, Tensor, Tensor]] = {}
        self._positions: dict[tuple, Tensor] = {}
        self._graphs: dict[tuple, torch.jit.ScriptModule] = {}

    def new_audio(self) -> None:
        """The audio of the next calls differs (a new window)."""
        self._audio = None

    def new_conditions(self) -> None:
        """The global conditions (emotion, reference, pose, gaze, branch flags) of the next calls differ."""
        self._audio = None
        self._steps.clear()

    def clear(self) -> None:
        """Forget everything (after the weights changed)."""
        self.new_conditions()
        self._positions.clear()
        self._graphs.clear()

    def audio_tokens(self, den: ConformerDenoiser, cond: Conditions) -> Tensor:
        """:meth:`ConformerDenoiser.audio_tokens` of ``cond``, computed on the first call after :meth:`new_audio`."""
        if self._audio is None:
            self._audio = den.audio_tokens(cond)
        return self._audio

    def step_terms(self, den: ConformerDenoiser, t: Tensor, cond: Conditions) -> tuple[Tensor, Tensor, Tensor]:
        """The condition vector for steps ``t`` and every block's FiLM scale and shift, stacked."""
        key = tuple(t.tolist())
        if key not in self._steps:
            c = den.condition_vector(t, cond)
            films = [block.modulation(c) for block in den.blocks]
            self._steps[key] = (c, torch.stack([f[0] for f in films]), torch.stack([f[1] for f in films]))
        return self._steps[key]

    def positions(self, den: ConformerDenoiser, table: Tensor) -> Tensor:
        """Every block's projected relative positions for ``table``, stacked."""
        key = (table.shape[0], table.device, table.dtype)
        if key not in self._positions:
            self._positions[key] = torch.stack([block.attn.project_positions(table) for block in den.blocks])
        return self._positions[key]

    def run(self, den: ConformerDenoiser, *parts: Tensor) -> Tensor:
        """:meth:`ConformerDenoiser.prepared` on ``parts``: eager, or the traced graph for their shapes."""
        if not self.graph:
            return den.prepared(*parts, backend=den.kernel_backend)
        key = (id(den), *(tuple(p.shape) for p in parts), parts[0].dtype, parts[0].device)
        if key not in self._graphs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace: see the class docstring
                self._graphs[key] = torch.jit.trace(_Prepared(den), parts, check_trace=False)
        return self._graphs[key](*parts)
