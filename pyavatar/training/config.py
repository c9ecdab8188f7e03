"""Training configuration (a JSON file; unknown keys are errors)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pyavatar.motion.diffusion.model import MotionModelConfig
from pyavatar.motion.learned.model import N_MELS, MouthConfig

MODELS = ("mouthnet", "diffusion")
#: ``precision`` values: autocast dtype of the training forward (see :func:`pyavatar.training.trainer.autocast_dtype`).
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


@dataclass
class TrainConfig:
    """Hyper-parameters of a ``train-motion`` run.

    ``val_speakers`` lists whole speakers (manifest ``speaker``) held out for
    validation; clips of ``--val`` folders are always validation clips.
    ``sil_weight`` multiplies the jaw loss on frames whose target is silence
    (speaking 0), so the mouth closes on pauses and at speech boundaries.
    ``warp`` (largest |ln alpha| of a per-crop mel-axis frequency scaling),
    ``freq_masks`` and ``freq_mask_bands`` (frequency masks per crop and their
    largest width in mel bands) augment MouthNet's input rows in feature space
    (:mod:`pyavatar.training.specaug`); 0 turns each off.

    ``model``: ``mouthnet`` (``arch``: :class:`MouthConfig`; ``crop_frames`` in
    100 Hz rows) or ``diffusion`` (``arch``: :class:`MotionModelConfig` keys;
    ``crop_frames`` in 25 fps frames). Diffusion only: ``cond_drop`` (guidance
    condition dropout), ``vel_weight``/``smooth_weight`` (loss weights),
    ``trunc_prob``/``min_frames`` (random window truncation). ``precision``:
    ``auto`` (mixed precision on a GPU: bfloat16 autocast where supported, else
    float16 with loss scaling; float32 on CPU), or ``float32``, ``bfloat16``
    (also on CPU), ``float16`` (CUDA only).
    """

    model: str = "mouthnet"
    seed: int = 0
    steps: int = 2000
    batch: int = 16
    crop_frames: int = 300
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip_grad: float = 1.0
    ema: float = 0.995
    val_every: int = 200
    ckpt_every: int = 200
    threads: int = 1
    val_speakers: list[str] = field(default_factory=list)
    arch: dict = field(default_factory=dict)
    sil_weight: float = 1.0
    warp: float = 0.0
    freq_masks: int = 0
    freq_mask_bands: int = 8
    cond_drop: float = 0.1
    vel_weight: float = 1.0
    smooth_weight: float = 0.5
    trunc_prob: float = 0.3
    min_frames: int = 16
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"config model {self.model!r}: choose from {MODELS}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"config precision {self.precision!r}: choose from {PRECISIONS} (auto: mixed precision on a "
                "GPU, float32 on CPU)"
            )
        for k in ("steps", "batch", "crop_frames", "val_every", "ckpt_every", "threads", "min_frames"):
            if getattr(self, k) <= 0:
                raise ValueError(f"config {k} must be positive, got {getattr(self, k)}")
        if not self.sil_weight > 0:
            raise ValueError(f"config sil_weight must be positive, got {self.sil_weight}")
        if not 0 <= self.warp < 0.5:
            raise ValueError(f"config warp must be within [0, 0.5) (largest |ln alpha|), got {self.warp}")
        if self.freq_masks < 0 or not 1 <= self.freq_mask_bands <= N_MELS:
            raise ValueError(
                f"config freq_masks must be >= 0 and freq_mask_bands within [1, {N_MELS}], got "
                f"{self.freq_masks} and {self.freq_mask_bands}"
            )
        if not 0 <= self.ema < 1:
            raise ValueError(f"config ema must be within [0, 1), got {self.ema}")
        for k in ("cond_drop", "trunc_prob"):
            if not 0 <= getattr(self, k) < 1:
                raise ValueError(f"config {k} must be within [0, 1), got {getattr(self, k)}")
        if self.vel_weight < 0 or self.smooth_weight < 0:
            raise ValueError(
                f"config vel_weight and smooth_weight must be >= 0, got {self.vel_weight} and {self.smooth_weight}"
            )
        if self.model == "mouthnet":
            self.mouth = MouthConfig(**self.arch)
        else:
            MotionModelConfig.from_dict({"space": "face_params", "audio": "logmel", **self.arch})

    def to_dict(self) -> dict:
        """The config as saved with a checkpoint (the derived ``mouth`` config left out)."""
        d = asdict(self)
        d.pop("mouth", None)
        return d


def load_config(path: str | Path | None) -> TrainConfig:
    """The config in ``path`` (defaults for every missing key), or the defaults."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    obj = json.loads(path.read_text())
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(obj) - known)
    if bad:
        raise ValueError(f"{path}: unknown keys {bad}; known: {sorted(known)}")
    try:
        return TrainConfig(**obj)
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from None
