"""JoyVASA sampling: DDPM ancestral steps with x0 prediction, audio CFG, and its long-audio window rules.

One window (``n_motions`` frames) runs every step t = T..1 of the cosine
schedule with two network evaluations ([null audio, audio]); the guided x0 is
``r_null + s (r_audio - r_null)`` and the update is the posterior mean plus
``sigma_t z`` (no noise at t = 1). Long audio is cut into back-to-back windows:
each is conditioned on the previous window's last ``n_prev_motions`` motion
frames and projected audio features (the first on the learned start
features), and all windows start from the same ``x_T``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from pyavatar.motion.joyvasa.model import JoyVASA

#: Silence JoyVASA adds before and after the audio (samples at 16 kHz): 2 frames and 1 frame.
SILENCE_PAD = (1280, 640)

NoiseFn = Callable[[int], Tensor]


@torch.no_grad()
def sample_window(
    model: JoyVASA,
    audio_feat: Tensor,
    x_T: Tensor,
    *,
    prev_motion: Tensor | None = None,
    prev_audio: Tensor | None = None,
    cfg_scale: float | None = None,
    noise: Tensor | NoiseFn | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample one window of normalised motion (B, L, M).

    Args:
        model: the JoyVASA generator (eval mode).
        audio_feat: (B, L, D) projected audio features (:meth:`JoyVASA.audio_features`).
        x_T: (B, L, M) initial noise.
        prev_motion: (B, Lp, M) motion of the previous window's tail; default the learned start features.
        prev_audio: (B, Lp, D) audio features of the same frames; default the learned start features.
        cfg_scale: audio guidance scale (default: the model config's).
        noise: per-step noise: a (T-1, B, L, M) tensor whose entry k is used at
            step t = T - k, or a function of t; default drawn from ``generator``.
        generator: the random source for the default noise.
    """
    cfg = model.cfg
    b = audio_feat.shape[0]
    if audio_feat.shape[1:] != (cfg.n_motions, cfg.feature_dim):
        raise ValueError(
            f"sample_window: audio_feat must be (B, {cfg.n_motions}, {cfg.feature_dim}), got {tuple(audio_feat.shape)}"
        )
    if x_T.shape != (b, cfg.n_motions, cfg.motion_feat_dim):
        raise ValueError(
            f"sample_window: x_T must be {(b, cfg.n_motions, cfg.motion_feat_dim)}, got {tuple(x_T.shape)}"
        )
    scale = cfg.cfg_scale if cfg_scale is None else float(cfg_scale)
    if prev_motion is None:
        prev_motion = model.start_motion_feat.expand(b, -1, -1)
    if prev_audio is None:
        prev_audio = model.start_audio_feat.expand(b, -1, -1)
    sched = model.diffusion_sched
    steps = sched.num_steps
    if isinstance(noise, Tensor) and noise.shape != (steps - 1, *x_T.shape):
        raise ValueError(f"sample_window: noise must be {(steps - 1, *x_T.shape)}, got {tuple(noise.shape)}")
    audio_in = torch.cat([model.null_audio_feat.expand(b, cfg.n_motions, -1), audio_feat])
    prev_motion_in = torch.cat([prev_motion, prev_motion])
    prev_audio_in = torch.cat([prev_audio, prev_audio])
    x = x_T
    for t in range(steps, 0, -1):
        if t == 1:
            z = torch.zeros_like(x)
        elif noise is None:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        elif isinstance(noise, Tensor):
            z = noise[steps - t]
        else:
            z = noise(t)
        step = torch.full((2 * b,), t, dtype=torch.long, device=x.device)
        out = model.denoise(torch.cat([x, x]), audio_in, prev_motion_in, prev_audio_in, step)[:, -cfg.n_motions :]
        r_null, r_audio = out.chunk(2)
        x0 = r_null + scale * (r_audio - r_null)
        alpha, abar, abar_prev = sched.alphas[t], sched.alpha_bars[t], sched.alpha_bars[t - 1]
        c0 = (1 - abar_prev) * torch.sqrt(alpha) / (1 - abar)
        c1 = (1 - alpha) * torch.sqrt(abar_prev) / (1 - abar)
        x = c0 * x + c1 * x0 + sched.sigmas_inflex[t] * z
    return x


def window_plan(n_samples: int, model: JoyVASA) -> tuple[int, int, int]:
    """JoyVASA's split of ``n_samples`` (already silence-padded): (windows, padding samples, padded frames)."""
    cfg = model.cfg
    clip_len = int(n_samples / 16000 * cfg.fps)
    n_windows = 1 if clip_len <= cfg.n_motions else math.ceil(clip_len / cfg.n_motions)
    pad = cfg.window_samples * n_windows - n_samples
    pad_frames = max(math.ceil(pad / cfg.samples_per_frame), 0)
    return n_windows, pad, pad_frames


@torch.no_grad()
def generate(
    model: JoyVASA,
    audio: Tensor,
    *,
    cfg_scale: float | None = None,
    generator: torch.Generator | None = None,
    silence_pad: bool = True,
    x_T: Tensor | None = None,
    noise: Callable[[int, int], Tensor] | None = None,
) -> Tensor:
    """Normalised motion (T, M) for a whole 16 kHz mono clip, JoyVASA's way.

    The clip is padded with :data:`SILENCE_PAD` (when ``silence_pad``), so
    output frame k covers padded samples [640 k, 640 (k + 1)): the first two
    frames precede the audio. The last window is padded (``cfg.pad_mode``) and
    its padded frames are dropped. ``x_T`` (1, L, M) and ``noise(window, t)``
    replace the random draws (for reproducing recorded runs).
    """
    cfg = model.cfg
    if audio.dim() == 2 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.dim() != 1:
        raise ValueError(f"generate: audio must be mono (N,) or (1, N), got {tuple(audio.shape)}")
    device = next(model.parameters()).device
    audio = audio.to(device, torch.float32)
    if silence_pad:
        audio = F.pad(audio, SILENCE_PAD)
    n_windows, pad, pad_frames = window_plan(len(audio), model)
    if pad > 0:
        fill = 0.0 if cfg.pad_mode == "zero" else float(audio[-1])
        audio = F.pad(audio, (0, pad), value=fill)
    if x_T is None:
        x_T = torch.randn((1, cfg.n_motions, cfg.motion_feat_dim), generator=generator, device=device)
    prev_motion = prev_audio = None
    parts = []
    for i in range(n_windows):
        lo, hi = (
            round(i * cfg.n_motions * cfg.samples_per_frame),
            round((i + 1) * cfg.n_motions * cfg.samples_per_frame),
        )
        feat = model.audio_features(audio[lo:hi][None])
        step_noise = None if noise is None else (lambda t, i=i: noise(i, t))
        motion = sample_window(
            model,
            feat,
            x_T,
            prev_motion=prev_motion,
            prev_audio=prev_audio,
            cfg_scale=cfg_scale,
            noise=step_noise,
            generator=generator,
        )
        prev_motion, prev_audio = motion[:, -cfg.n_prev_motions :], feat[:, -cfg.n_prev_motions :]
        parts.append(motion[0])
    out = torch.cat(parts)
    return out[: len(out) - pad_frames] if pad_frames else out
