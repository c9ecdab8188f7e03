"""Training task of the FaceParams diffusion generator (``model: "diffusion"`` in a ``train-motion`` config).

Data: ``pyavatar extract-motion`` folders — ``NAME.wav`` and ``NAME.face.npz``
(per-frame FaceParams, resampled to 25 fps) — with the generator's audio
condition (:mod:`pyavatar.motion.diffusion.audio`: four stacked 100 Hz log-mel
frames per motion frame). Losses (JoyVASA / DiffPoseTalk style, on the
denoiser's x0 prediction in normalised units): sample (x0 MSE), velocity
(first differences), smoothness (second differences of the prediction).
Classifier-free guidance: the audio and the (neutral) emotion condition are
each replaced by their null embedding with probability ``cond_drop``. Random
truncation: with probability ``trunc_prob`` a batch's windows are cut to a
random length in ``[min_frames, crop_frames]``. A random prefix of each
window (up to half) is given as known motion, as the streaming generator
feeds back its context frames. Validation: the sample loss on held-out clips
at fixed noise levels (selection score = minus that loss) and the jaw
correlation of DDIM-sampled motion with the tracked jaw.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pyavatar.checkpoints import write_json
from pyavatar.evaluation.dataset import Item, load_dataset
from pyavatar.face.params import EMOTIONS, NAMES
from pyavatar.motion.diffusion.audio import FPS, LOGMEL_DIM, MEL_STACK, SILENT_LOG_MEL
from pyavatar.motion.diffusion.conformer import Conditions
from pyavatar.motion.diffusion.model import DiffusionMotionModel, MotionModelConfig, save_motion_model
from pyavatar.motion.diffusion.sampler import Guidance, NoiseSchedule, ddim_sample, guidance_plan
from pyavatar.motion.diffusion.space import FACE_PARAMS, default_normalization
from pyavatar.training.config import TrainConfig
from pyavatar.training.data import log_mel

KIND = "pyavatar-diffusion"
TRAIN_COLUMNS = ["step", "loss", "sample", "velocity", "smooth", "lr", "grad_norm"]
VAL_COLUMNS = ["step", "score", "val_loss", "jaw_corr"]
_JAW = NAMES.index("jaw_open")
_VAL_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9)  # fractions of the noise schedule scored in validation
_VAL_SAMPLE_STEPS = 10
_VAL_WINDOW = 250  # validation clips are scored in windows of at most this many frames (10 s)


@dataclass
class MotionClip:
    """One clip: ``audio`` (T, 320) log-mel rows and ``motion`` (T, F) raw FaceParams at 25 fps."""

    item: Item
    audio: np.ndarray
    motion: np.ndarray


def read_face(path: Path) -> np.ndarray:
    """(T, F) FaceParams of a ``NAME.face.npz`` resampled to 25 fps (frames without a face interpolated)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing (diffusion training needs the FaceParams that "
            "`pyavatar extract-motion` writes beside NAME.wav)"
        )
    with np.load(path, allow_pickle=False) as z:
        names = [str(n) for n in z["names"]]
        values, fps, found = z["values"].astype(np.float64), float(z["fps"]), z["found"].astype(bool)
    if names != list(NAMES):
        raise ValueError(
            f"{path}: FaceParams fields {names[:3]}... differ from this version's {list(NAMES)[:3]}...; "
            "re-run `pyavatar extract-motion`"
        )
    if not found.any():
        raise ValueError(f"{path}: no frame has a face")
    src_t = np.flatnonzero(found) / fps
    n = int(math.floor(len(values) / fps * FPS))
    t = np.arange(n) / FPS
    return np.stack([np.interp(t, src_t, values[found, j]) for j in range(values.shape[1])], axis=1).astype(np.float32)


def prepare(item: Item) -> MotionClip:
    """Audio rows and 25 fps FaceParams of one dataset item (cut to the shorter of the two)."""
    mel = log_mel(item.wav)
    rows = mel[: len(mel) // MEL_STACK * MEL_STACK].reshape(-1, LOGMEL_DIM)
    motion = read_face(item.wav.with_name(f"{item.name}.face.npz"))
    n = min(len(rows), len(motion))
    return MotionClip(item, rows[:n].astype(np.float32), motion[:n])


def load_motion_clips(folders: list[str | Path], progress: bool = True) -> list[MotionClip]:
    """Every clip of ``folders`` (folder order, names sorted)."""
    items = [it for f in folders for it in load_dataset(f)]
    clips = [prepare(it) for it in tqdm(items, desc="features", unit="clip", disable=not progress)]
    for c in clips:
        if len(c.motion) < 3:
            raise ValueError(f"{c.item.wav}: {len(c.motion)} motion frames; a clip needs at least 3 (120 ms)")
    return clips


def statistics(clips: list[MotionClip]) -> tuple[np.ndarray, np.ndarray]:
    """Normalisation ``(offset, scale)``: the data mean and std, the std floored at 10 % of each field's half-range."""
    x = np.concatenate([c.motion for c in clips]).astype(np.float64)
    _, half = default_normalization(FACE_PARAMS)
    return x.mean(0).astype(np.float32), np.maximum(x.std(0), 0.1 * half).astype(np.float32)


class DiffusionTask:
    """What the ``train-motion`` loop needs for the diffusion generator (see the module docstring)."""

    train_columns = TRAIN_COLUMNS
    val_columns = VAL_COLUMNS

    def __init__(self, cfg: TrainConfig, clips: list[MotionClip], val: list[MotionClip]) -> None:
        self.cfg, self.clips, self.val = cfg, clips, val
        self.arch = MotionModelConfig(**{"space": "face_params", "audio": "logmel", **cfg.arch})
        if self.arch.space != "face_params" or self.arch.audio != "logmel":
            raise ValueError("train-motion trains face_params log-mel diffusion models (arch space/audio)")
        self.stats = statistics(clips)
        self.schedule = NoiseSchedule(self.arch.train_steps)
        self.alpha_bar = torch.tensor(self.schedule.alpha_bar, dtype=torch.float32)
        self.info = {"kind": KIND, "model": asdict(self.arch), "train_config": cfg.to_dict()}

    def build(self, device: str) -> DiffusionMotionModel:
        """A fresh model with the data's normalisation."""
        m = DiffusionMotionModel(self.arch, kernel_backend="torch")  # the PyTorch reference kernel has autograd
        m.set_normalization(*self.stats)
        return m.to(device)

    def batch(self, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Random (possibly truncated) windows: audio (B, L, 320), raw motion (B, L, F), mask (B, L), known (B, L)."""
        cfg = self.cfg
        n = cfg.crop_frames
        if float(torch.rand((), generator=gen)) < cfg.trunc_prob:
            n = int(torch.randint(min(cfg.min_frames, n), n + 1, (1,), generator=gen))
        audio = torch.full((cfg.batch, n, LOGMEL_DIM), SILENT_LOG_MEL)
        motion = torch.zeros(cfg.batch, n, FACE_PARAMS.dim)
        mask = torch.zeros(cfg.batch, n)
        known = torch.zeros(cfg.batch, n)
        for b in range(cfg.batch):
            c = self.clips[int(torch.randint(len(self.clips), (1,), generator=gen))]
            off = int(torch.randint(max(1, len(c.audio) - n + 1), (1,), generator=gen))
            k = min(n, len(c.audio) - off)
            audio[b, :k] = torch.from_numpy(c.audio[off : off + k])
            motion[b, :k] = torch.from_numpy(c.motion[off : off + k])
            motion[b, k:] = motion[b, k - 1]
            mask[b, :k] = 1
            known[b, : int(torch.randint(n // 2 + 1, (1,), generator=gen))] = 1
        return audio, motion, mask, known

    def conditions(
        self, audio: Tensor, known: Tensor, known_mask: Tensor, audio_on: Tensor, emotion_on: Tensor
    ) -> Conditions:
        """Denoiser conditions: audio, known motion, neutral emotion; no reference, pose or gaze."""
        b, dev = audio.shape[0], audio.device
        off = torch.zeros(b, dtype=torch.bool, device=dev)
        return Conditions(
            audio=audio,
            audio_on=audio_on,
            known=known,
            known_mask=known_mask,
            emotion=torch.zeros(b, len(EMOTIONS), device=dev),
            emotion_on=emotion_on,
            emotion_ref=torch.zeros(b, FACE_PARAMS.dim, device=dev),
            ref_present=off,
            pose=torch.zeros(b, 3, device=dev),
            pose_on=off,
            gaze=torch.zeros(b, 2, device=dev),
            gaze_on=off,
        )

    def losses(self, model: DiffusionMotionModel, gen: torch.Generator, device: str) -> dict[str, Tensor]:
        """One batch's sample, velocity and smoothness losses (weighted as configured)."""
        cfg = self.cfg
        audio, raw, m, kn = self.batch(gen)
        b = audio.shape[0]
        t = torch.randint(self.arch.train_steps, (b,), generator=gen)
        noise = torch.randn(raw.shape, generator=gen)
        drop = torch.rand(b, 2, generator=gen) < cfg.cond_drop
        audio, raw, m, kn, noise = (v.to(device) for v in (audio, raw, m, kn, noise))
        x0 = model.normalize(raw)
        ab = self.alpha_bar[t].to(device)[:, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        cond = self.conditions(model.audio_tokens(audio), x0, kn, ~drop[:, 0].to(device), ~drop[:, 1].to(device))
        pred = model.denoiser(xt, t.to(device, torch.float32), cond).float()
        return weighted(pred, x0, m, cfg.vel_weight, cfg.smooth_weight)

    @torch.no_grad()
    def validate(self, model: DiffusionMotionModel) -> dict[str, float]:
        """Held-out sample loss (fixed noise levels and seeds); jaw correlation of sampled vs tracked motion."""
        gen = torch.Generator().manual_seed(self.cfg.seed + 1)
        dev = next(model.parameters()).device
        total, frames, jaw_pred, jaw_true = 0.0, 0, [], []
        branches, weights = guidance_plan(FACE_PARAMS, Guidance(), split_regions=False, pose_given=False)
        wts = torch.as_tensor(weights, device=dev)[:, None, :]
        windows = [
            (c.audio[i : i + _VAL_WINDOW], c.motion[i : i + _VAL_WINDOW])
            for c in self.val
            for i in range(0, len(c.audio), _VAL_WINDOW)
        ]
        for a, mo in windows:
            audio = model.audio_tokens(torch.from_numpy(a)[None].to(dev))
            x0 = model.normalize(torch.from_numpy(mo)[None].to(dev))
            n = x0.shape[1]
            no = torch.zeros(1, n, device=dev)
            on = torch.ones(1, dtype=torch.bool, device=dev)
            cond = self.conditions(audio, x0, no, on, on)
            for level in _VAL_LEVELS:
                t = int(level * (self.arch.train_steps - 1))
                ab = float(self.schedule.alpha_bar[t])
                xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(x0.shape, generator=gen).to(dev)
                pred = model.denoiser(xt, torch.full((1,), float(t), device=dev), cond).float()
                total += float(((pred - x0) ** 2).mean(-1).sum())
                frames += n
            rows = len(branches)
            cond_g = self.conditions(
                audio.expand(rows, -1, -1),
                x0.expand(rows, -1, -1),
                no.expand(rows, -1),
                torch.tensor([b.audio for b in branches], device=dev),
                torch.tensor([b.emotion is not None for b in branches], device=dev),
            )

            def predict(x: Tensor, t: int, cond: Conditions = cond_g, rows: int = rows) -> Tensor:
                out = model.denoiser(x.expand(rows, -1, -1), torch.full((rows,), float(t), device=dev), cond)
                return (wts * out).sum(0, keepdim=True)

            x_T = torch.randn(x0.shape, generator=gen).to(dev)
            sample = model.denormalize(ddim_sample(predict, x_T, self.schedule, _VAL_SAMPLE_STEPS))
            jaw_pred.append(sample[0, :, _JAW].cpu().numpy())
            jaw_true.append(mo[:, _JAW])
        loss = total / max(1, frames)
        p, q = np.concatenate(jaw_pred), np.concatenate(jaw_true)
        corr = float(np.corrcoef(p, q)[0, 1]) if p.std() > 0 and q.std() > 0 else 0.0
        return {"score": round(-loss, 6), "val_loss": round(loss, 6), "jaw_corr": round(corr, 4)}

    def save(self, model: DiffusionMotionModel, meta: dict, path: Path) -> None:
        """``path`` for :func:`~pyavatar.motion.diffusion.load_motion_model`, run facts in the .json beside it."""
        save_motion_model(model, path)
        write_json(meta, path.with_suffix(".json"))


def weighted(pred: Tensor, x0: Tensor, m: Tensor, vel_weight: float, smooth_weight: float) -> dict[str, Tensor]:
    """Masked sample (x0 MSE), velocity and smoothness losses of (B, T, F) predictions, already weighted."""
    sample = (((pred - x0) ** 2).mean(-1) * m).sum() / m.sum().clamp(min=1)
    mv = m[:, 1:] * m[:, :-1]
    dv = (pred[:, 1:] - pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])
    velocity = ((dv**2).mean(-1) * mv).sum() / mv.sum().clamp(min=1)
    ma = mv[:, 1:] * mv[:, :-1]
    acc = pred[:, 2:] - 2 * pred[:, 1:-1] + pred[:, :-2]
    smooth = ((acc**2).mean(-1) * ma).sum() / ma.sum().clamp(min=1)
    return {"sample": sample, "velocity": vel_weight * velocity, "smooth": smooth_weight * smooth}
