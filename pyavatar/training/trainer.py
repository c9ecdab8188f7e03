"""The ``train-motion`` loop, for :class:`~pyavatar.motion.learned.model.MouthNet` and the diffusion generator.

The loop is shared; a task (:class:`MouthTask` here,
:class:`~pyavatar.training.diffusion.DiffusionTask`) builds the model, draws a
batch and its losses, validates and writes inference weights.

AdamW with linear warm-up then cosine decay to 10 %, gradient clipping, EMA
weights, mixed precision on a GPU (``precision``, :func:`autocast_dtype`:
bfloat16 autocast, or float16 with loss scaling where bfloat16 is not
supported; float32 on CPU unless asked). On CPU a run is deterministic for
its seed and thread count, and resuming from ``last.*`` continues exactly as
an uninterrupted run would (model, EMA, optimizer and the batch sampler's RNG
are all restored; a float16 run's loss scale too). Every
``val_every`` steps the EMA weights are scored with the task's metrics on the
validation speakers; ``best.safetensors`` keeps the best validation score
(MouthNet: speech-frame jaw r + vowel accuracy - silence open rate; diffusion:
minus the held-out diffusion loss), ``final.safetensors`` the last EMA
weights. Logs: ``train.csv``, ``val.csv``.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pyavatar.checkpoints import save_weights
from pyavatar.evaluation.dataset import Reference
from pyavatar.evaluation.metrics import Prediction, count, summarize
from pyavatar.motion.learned.engine import KIND, bundled_weights, load_model, read_config
from pyavatar.motion.learned.model import N_IN, MouthNet, decode
from pyavatar.training.checkpoint import load_training, save_training
from pyavatar.training.config import TrainConfig
from pyavatar.training.data import Clip
from pyavatar.training.specaug import augment

if TYPE_CHECKING:
    from pyavatar.training.diffusion import DiffusionTask

TRAIN_COLUMNS = ["step", "loss", "jaw", "cls", "shape", "speaking", "lr", "grad_norm"]
VAL_COLUMNS = ["step", "score", "jaw_corr_speech", "jaw_corr_all", "vowel_accuracy", "silence_open_rate", "best_lag_ms"]


def split(clips: list[Clip], val_speakers: list[str]) -> tuple[list[Clip], list[Clip]]:
    """Training and validation clips by whole speakers."""
    val = [c for c in clips if c.item.speaker in val_speakers]
    return [c for c in clips if c.item.speaker not in val_speakers], val


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of ``step`` (0-based)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def batch(clips: list[Clip], cfg: TrainConfig, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random crops: x (B, T, N_IN), y (B, T, 5), mask (B, T)."""
    n, t = cfg.batch, cfg.crop_frames
    x = torch.zeros(n, t, N_IN)
    y = torch.zeros(n, t, 5)
    m = torch.zeros(n, t)
    for b in range(n):
        c = clips[int(torch.randint(len(clips), (1,), generator=gen))]
        off = int(torch.randint(max(1, len(c.x) - t + 1), (1,), generator=gen))
        k = min(t, len(c.x) - off)
        x[b, :k] = augment(torch.from_numpy(c.x[off : off + k]), cfg.warp, cfg.freq_masks, cfg.freq_mask_bands, gen)
        y[b, :k] = torch.from_numpy(c.y[off : off + k])
        m[b, :k] = 1
    return x, y, m


def losses(
    out: torch.Tensor, y: torch.Tensor, m: torch.Tensor, lookahead: int, sil_weight: float = 1.0
) -> dict[str, torch.Tensor]:
    """Per-term losses; output ``t + lookahead`` predicts target ``t``; jaw errors on silence count ``sil_weight``x."""
    out = out[:, lookahead:].float()
    y, m = y[:, : y.shape[1] - lookahead], m[:, : m.shape[1] - lookahead]
    w = m / m.sum().clamp(min=1)
    wj = w * torch.where(y[..., 4] > 0.5, 1.0, sil_weight)
    jaw = ((torch.sigmoid(out[..., 0]) - y[..., 0]) ** 2 * wj).sum() * 10
    cls = (F.cross_entropy(out[..., 1:8].transpose(1, 2), y[..., 1].long(), reduction="none") * w).sum()
    shape = (F.binary_cross_entropy_with_logits(out[..., 8:10], y[..., 2:4], reduction="none").mean(-1) * w).sum()
    speaking = (F.binary_cross_entropy_with_logits(out[..., 10], y[..., 4], reduction="none") * w).sum()
    return {"jaw": jaw, "cls": cls, "shape": shape, "speaking": speaking}


def predict(model: MouthNet, x: np.ndarray) -> Prediction:
    """25 fps prediction for a whole clip (offline; equals streaming up to the final look-ahead)."""
    la = model.cfg.lookahead
    with torch.no_grad():
        xx = torch.from_numpy(np.concatenate([x, np.zeros((la, N_IN), np.float32)]))[None]
        y, _ = model(xx.to(next(model.parameters()).device))
    rows = decode(y[0].cpu())[la:]
    n = int(np.ceil(len(rows) / 4))
    rows = np.concatenate([rows, np.repeat(rows[-1:], n * 4 - len(rows), axis=0)]).reshape(n, 4, -1).mean(axis=1)
    return Prediction(rows[:, 5], rows[:, :5])


def validate(model: MouthNet, clips: list[Clip]) -> dict[str, float]:
    """Pooled lip-sync metrics and the selection score on ``clips``."""
    counts = []
    for c in clips:
        ref: Reference = c.item.reference
        counts.append(count(predict(model, c.x), ref))
    s = summarize(counts)
    s["score"] = round(s["jaw_corr_speech"] + s["vowel_accuracy"] - s["silence_open_rate"], 4)
    return s


class MouthTask:
    """The streaming mouth model's part of the loop."""

    train_columns = TRAIN_COLUMNS
    val_columns = VAL_COLUMNS

    def __init__(self, cfg: TrainConfig, clips: list[Clip], val: list[Clip]) -> None:
        self.cfg, self.clips, self.val = cfg, clips, val
        self.info = {"kind": KIND, "model": cfg.mouth.to_dict(), "train_config": cfg.to_dict()}

    def build(self, device: str) -> MouthNet:
        """A fresh model."""
        return MouthNet(self.cfg.mouth).to(device)

    def losses(self, model: MouthNet, gen: torch.Generator, device: str) -> dict[str, torch.Tensor]:
        """One batch's loss terms."""
        x, y, m = (t.to(device) for t in batch(self.clips, self.cfg, gen))
        out, _ = model(x)
        return losses(out.float(), y, m, self.cfg.mouth.lookahead, self.cfg.sil_weight)

    def validate(self, model: MouthNet) -> dict[str, float]:
        """Lip-sync metrics on the validation clips."""
        return validate(model, self.val)

    def save(self, model: MouthNet, meta: dict, path: Path) -> None:
        """Inference weights (plain keys) + JSON config."""
        save_weights(model.state_dict(), meta, path)

    def initialize(self, model: MouthNet, weights: Path) -> None:
        """Start ``model`` from trained ``weights`` (same architecture); later checkpoints keep their gate."""
        start = load_model(weights)
        if start.cfg != self.cfg.mouth:
            raise ValueError(
                f"{weights.with_suffix('.json')}: its model {start.cfg.to_dict()} differs from the config's arch "
                f"{self.cfg.mouth.to_dict()}; leave arch out of the config to take the weights' own"
            )
        model.load_state_dict(start.state_dict())
        meta = read_config(weights)
        self.info["init"] = str(weights)
        if "gate" in meta:
            self.info["gate"] = meta["gate"]


def init_weights(name: str | Path) -> Path:
    """The weights ``--init`` names: ``bundled`` (the model shipped in the package) or a checkpoint path."""
    if str(name) == "bundled":
        path = bundled_weights()
        if path is None:
            raise ValueError("--init bundled: this package ships no learned model; pass RUN/best.safetensors")
        return path
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"--init: weights not found: {path}")
    return path


def init_config(cfg: TrainConfig, weights: Path) -> TrainConfig:
    """``cfg`` with the architecture of ``weights`` when the config sets none (fine-tuning keeps the model)."""
    if cfg.model != "mouthnet":
        raise ValueError(f"--init starts the mouth model (mouthnet) from weights; config model is {cfg.model!r}")
    if cfg.arch:
        return cfg
    meta = read_config(weights)
    if meta.get("kind") != KIND or not isinstance(meta.get("model"), dict):
        raise ValueError(f"{weights.with_suffix('.json')}: not a mouth-model config (kind {meta.get('kind')!r})")
    return TrainConfig(**{**cfg.to_dict(), "arch": dict(meta["model"])})


def make_task(cfg: TrainConfig, clips: list, val: list) -> MouthTask | DiffusionTask:
    """The task of ``cfg.model``.

    Clips come from :func:`pyavatar.training.data.load_clips` (mouthnet) or
    :func:`pyavatar.training.diffusion.load_motion_clips` (diffusion).
    """
    if not clips:
        raise ValueError("no training clips (all clips are validation speakers?)")
    if not val:
        raise ValueError("no validation clips: set val_speakers in the config or pass --val DIR")
    if cfg.model == "diffusion":
        from pyavatar.training.diffusion import DiffusionTask

        return DiffusionTask(cfg, clips, val)
    return MouthTask(cfg, clips, val)


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype of the training forward for a config ``precision`` on ``device`` (None: float32).

    Raises ValueError for a precision the device cannot run, saying what to use instead.
    """
    cuda = device.startswith("cuda")
    if precision == "auto":
        if not cuda:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "float16" and not cuda:
        raise ValueError(
            f"config precision 'float16' needs a CUDA device (loss scaling), got --device {device}; "
            "use 'bfloat16' or 'float32' on CPU"
        )
    if precision == "bfloat16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"config precision 'bfloat16': {torch.cuda.get_device_name(device)} has no bfloat16 support; "
            "use 'float16' or 'auto'"
        )
    return {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]


def _append(path: Path, columns: list[str], row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def _truncate(path: Path, step: int) -> None:
    """Drop CSV rows logged after ``step`` (work lost since the last checkpoint)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
        cols = list(rows[0].keys()) if rows else None
    if cols is None:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(r for r in rows if int(r["step"]) <= step)
    tmp.replace(path)


def train(
    clips: list,
    val: list,
    cfg: TrainConfig,
    run: str | Path,
    *,
    resume: bool = False,
    stop_at: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    init: Path | None = None,
) -> dict:
    """Train (or resume) into ``run``; returns a summary. ``stop_at`` checkpoints and stops at that step.

    ``init``: mouth-model weights to start from (fine-tuning; see :func:`init_config`); a resumed run
    carries on from its own checkpoint.
    """
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.seed)
    amp = autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)  # float16 gradients underflow unscaled
    task = make_task(cfg, clips, val)
    model = task.build(device)
    if init is not None:
        if not isinstance(task, MouthTask):
            raise ValueError("--init starts the mouth model (mouthnet) from weights")
        task.initialize(model, init)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ema_model = task.build(device).eval()  # built before any RNG state is restored
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, best = 0, -math.inf
    kind = task.info["kind"]
    if resume:
        rngs, meta = load_training(run, model, ema, opt)
        if TrainConfig(**meta["config"]).to_dict() != cfg.to_dict():  # keys added since: their defaults
            raise ValueError(f"{run}/last.json: the run's config differs from --config; resume with the same config")
        gen.set_state(rngs["gen"])
        torch.set_rng_state(rngs["torch"])
        step, best = int(meta["step"]), float(meta["best_score"])
        if "grad_scaler" in meta:
            scaler.load_state_dict(meta["grad_scaler"])
        for name in ("train.csv", "val.csv"):
            _truncate(run / name, step)
    end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    t0, first = time.perf_counter(), step
    bar = tqdm(total=cfg.steps, initial=step, desc="train-motion", unit="step", disable=not progress)

    def checkpoint() -> None:
        meta = {"kind": kind, "step": step, "config": cfg.to_dict(), "best_score": best}
        if scaler.is_enabled():
            meta["grad_scaler"] = scaler.state_dict()
        save_training(run, model, ema, opt, {"gen": gen.get_state(), "torch": torch.get_rng_state()}, meta)

    while step < end:
        lr = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        with torch.autocast(device.split(":")[0], dtype=amp or torch.float32, enabled=amp is not None):
            parts = task.losses(model, gen, device)
        loss = sum(parts.values())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)  # clip the true gradients
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad))
        scaler.step(opt)  # skips the step when float16 gradients overflowed
        scaler.update()
        with torch.no_grad():
            for k, v in model.state_dict().items():
                ema[k].mul_(cfg.ema).add_(v.detach(), alpha=1 - cfg.ema) if v.is_floating_point() else ema[k].copy_(v)
        step += 1
        row = {k: f"{float(v.detach()):.6f}" for k, v in parts.items()}
        row.update(step=step, loss=f"{float(loss.detach()):.6f}", lr=f"{lr:.6g}", grad_norm=f"{gnorm:.4f}")
        _append(run / "train.csv", task.train_columns, row)
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if step % cfg.val_every == 0 or step == cfg.steps:
            ema_model.load_state_dict(ema)
            s = task.validate(ema_model)
            _append(run / "val.csv", task.val_columns, {"step": step, **s})
            if s["score"] > best:
                best = s["score"]
                task.save(ema_model, {**task.info, "step": step, "validation": s}, run / "best.safetensors")
        if step % cfg.ckpt_every == 0 or step == end:
            checkpoint()
    bar.close()
    if step == cfg.steps:
        ema_model.load_state_dict(ema)
        task.save(ema_model, {**task.info, "step": step}, run / "final.safetensors")
    secs = time.perf_counter() - t0
    return {
        "step": step,
        "best_score": best,
        "steps_per_s": round((step - first) / secs, 2) if secs > 0 else 0.0,
        "train_clips": len(clips),
        "val_clips": len(val),
    }
