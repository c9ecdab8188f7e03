"""Mixed precision for the diffusion trainer: CPU bfloat16 autocast against float32, and the precision option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyavatar.face.params import NAMES
from pyavatar.motion.diffusion.audio import LOGMEL_DIM
from pyavatar.training.config import TrainConfig
from pyavatar.training.diffusion import DiffusionTask, MotionClip
from pyavatar.training.trainer import autocast_dtype

ARCH = {"d_model": 64, "heads": 4, "blocks": 2, "ff_mult": 2, "conv_kernel": 5, "train_steps": 100}
#: Measured: the bfloat16 batch loss is within 0.03 % of float32 and the gradients' cosine is 0.999996; the bounds
#: leave room for other CPUs' kernels (bfloat16 keeps 8 mantissa bits, a relative step of 0.4 %).
LOSS_RTOL = 0.005
MIN_GRAD_COSINE = 0.999


def _clips(n: int = 3, frames: int = 60) -> list[MotionClip]:
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(n):
        audio = rng.normal(-5.0, 2.0, (frames, LOGMEL_DIM)).astype(np.float32)
        motion = np.zeros((frames, len(NAMES)), np.float32)
        motion[:, NAMES.index("jaw_open")] = np.clip(audio[:, :80].mean(1) / 10 + 0.5, 0, 1)
        motion[:, NAMES.index("head_yaw")] = 5 * np.sin(np.arange(frames) / 7)
        clips.append(MotionClip(None, audio, motion))  # type: ignore[arg-type]
    return clips


def _loss_and_grads(task: DiffusionTask, dtype: torch.dtype | None) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    model = task.build("cpu")
    with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        parts = task.losses(model, torch.Generator().manual_seed(1), "cpu")
    loss = sum(parts.values())
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return float(loss.detach()), grads


def test_cpu_bfloat16_autocast_forward_backward_is_close_to_float32() -> None:
    cfg = TrainConfig(model="diffusion", batch=4, crop_frames=40, trunc_prob=0.0, arch=ARCH)
    task = DiffusionTask(cfg, _clips(), _clips(1))
    ref_loss, ref_grads = _loss_and_grads(task, None)
    loss, grads = _loss_and_grads(task, torch.bfloat16)
    assert np.isfinite(loss) and torch.isfinite(grads).all()
    assert loss != ref_loss  # the bfloat16 path really ran
    assert loss == pytest.approx(ref_loss, rel=LOSS_RTOL)
    cosine = float(torch.nn.functional.cosine_similarity(grads, ref_grads, dim=0))
    assert cosine > MIN_GRAD_COSINE


def test_precision_option_is_validated_with_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"precision 'fp8': choose from \('auto', 'float32', 'bfloat16', 'float16'\)"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="'float16' needs a CUDA device.*got --device cpu"):
        autocast_dtype("float16", "cpu")
    assert autocast_dtype("auto", "cpu") is None  # CPU stays float32 (deterministic) by default
    assert autocast_dtype("float32", "cpu") is None
    assert autocast_dtype("bfloat16", "cpu") is torch.bfloat16
