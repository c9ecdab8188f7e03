"""Training configuration (a JSON file; unknown keys are errors)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pyavatar.motion.learned.model import MouthConfig


@dataclass
class TrainConfig:
    """Hyper-parameters of a ``train-motion`` run.

    ``val_speakers`` lists whole speakers (manifest ``speaker``) held out for
    validation; clips of ``--val`` folders are always validation clips.
    ``sil_weight`` multiplies the jaw loss on frames whose target is silence
    (speaking 0), so the mouth closes on pauses and at speech boundaries.
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

    def __post_init__(self) -> None:
        if self.model != "mouthnet":
            raise ValueError(f"model {self.model!r}: train-motion trains 'mouthnet' (the diffusion generator is "
                             "not trainable here yet)")  # fmt: skip
        for k in ("steps", "batch", "crop_frames", "val_every", "ckpt_every", "threads"):
            if getattr(self, k) <= 0:
                raise ValueError(f"config {k} must be positive, got {getattr(self, k)}")
        if not self.sil_weight > 0:
            raise ValueError(f"config sil_weight must be positive, got {self.sil_weight}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"config ema must be within [0, 1), got {self.ema}")
        self.mouth = MouthConfig(**self.arch)

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
