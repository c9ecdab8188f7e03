"""Cosine noise schedule, DDIM sampling for x0-predicting denoisers, and the guidance plan.

Guidance (classifier-free, incremental) over four kinds of denoiser rows::

    x0 = x(∅) + s_a [x(A) - x(∅)] + s_e [x(A,E) - x(A)] + γ [x(A,E,P) - x(A,E,¬P)]

∅: audio and emotion dropped; A: audio; E: emotion; P: reference head pose
(kept in every row unless the pose term is active). The γ term is GoHD's
reference-pose guidance and acts on the head-pose dims only. With region
composition (different emotions for the lips and the eyes/brows), the
emotion row is split in two and each region takes its own; the remaining
dims average them. Coefficients are per dim, rows with all-zero
coefficients are not evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pyavatar.motion.diffusion.space import MotionSpace


class NoiseSchedule:
    """Cosine schedule (s = 0.008, betas clipped to 0.999) over ``train_steps`` discrete steps 0..T-1."""

    def __init__(self, train_steps: int = 1000, s: float = 0.008) -> None:
        t = np.arange(train_steps + 1, dtype=np.float64)
        f = np.cos(((t / train_steps) + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
        self.train_steps = train_steps
        self.alpha_bar = np.cumprod(1 - betas)

    def timesteps(self, steps: int) -> list[int]:
        """``steps`` evenly spaced training steps from T-1 down to 0."""
        if not 1 <= steps <= self.train_steps:
            raise ValueError(f"steps must be within 1..{self.train_steps}, got {steps}")
        return [int(round(v)) for v in np.linspace(self.train_steps - 1, 0, steps)]


@torch.no_grad()
def ddim_sample(
    predict_x0: Callable[[Tensor, int], Tensor],
    x_T: Tensor,
    schedule: NoiseSchedule,
    steps: int,
    *,
    eta: float = 0.0,
    noise: Tensor | None = None,
) -> Tensor:
    """DDIM from ``x_T`` with an x0-predicting model; returns the final x0.

    ``noise`` (steps - 1, *x_T.shape) supplies the stochastic term when ``eta`` > 0.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    ts = schedule.timesteps(steps)
    if eta > 0 and (noise is None or noise.shape[0] < len(ts) - 1):
        raise ValueError(
            f"eta > 0 needs noise of shape ({len(ts) - 1}, ...), got {None if noise is None else tuple(noise.shape)}"
        )
    x = x_T
    for i, t in enumerate(ts):
        x0 = predict_x0(x, t)
        if i == len(ts) - 1:
            return x0
        a, an = schedule.alpha_bar[t], schedule.alpha_bar[ts[i + 1]]
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        sigma = eta * math.sqrt((1 - an) / (1 - a) * (1 - a / an))
        x = math.sqrt(an) * x0 + math.sqrt(max(1 - an - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * noise[i]
    return x


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance scales: audio ``s_a``, emotion ``s_e``, reference pose ``γ`` (GoHD)."""

    audio: float = 2.0
    emotion: float = 1.0
    pose: float = 0.0


@dataclass(frozen=True)
class Branch:
    """One denoiser row: which conditions it keeps. ``emotion``: None (dropped), ``"lips"`` or ``"upper"``."""

    audio: bool
    emotion: str | None
    pose: bool


def guidance_plan(
    space: MotionSpace, g: Guidance, *, split_regions: bool, pose_given: bool
) -> tuple[list[Branch], np.ndarray]:
    """Rows to evaluate and their (rows, dim) combination weights (each column sums to 1)."""
    dim = space.dim
    lips, upper, pose = (space.mask(r) for r in ("lips", "upper", "pose"))
    other = ~(lips | upper)
    rows: list[tuple[Branch, np.ndarray]] = [
        (Branch(False, None, pose_given), np.full(dim, 1.0 - g.audio)),
        (Branch(True, None, pose_given), np.full(dim, g.audio - g.emotion)),
    ]
    if split_regions:
        rows.append((Branch(True, "lips", pose_given), g.emotion * (lips + 0.5 * other)))
        rows.append((Branch(True, "upper", pose_given), g.emotion * (upper + 0.5 * other)))
    else:
        rows.append((Branch(True, "lips", pose_given), np.full(dim, g.emotion)))
    if pose_given and g.pose != 0:
        rows[2][1][pose] += g.pose
        rows.append((Branch(True, "lips", False), -g.pose * pose.astype(np.float64)))
    kept = [(b, w) for b, w in rows if np.any(w != 0)]
    return [b for b, _ in kept], np.stack([w for _, w in kept]).astype(np.float32)
