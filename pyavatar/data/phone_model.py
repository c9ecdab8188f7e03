"""Frame-level phone-class posteriors for the forced aligner (:mod:`pyavatar.data.align`).

A small bidirectional GRU reads 100 Hz log-mel frames (normalised per file, so
level and channel colour drop out) and scores each frame against
:data:`CLASSES`: silence and 27 broad phone classes shared by every language the
aligner speaks. Phones map to classes by their first IPA symbol
(:func:`phone_class`), so espeak-ng, Festival and flite labels all train it.

It is trained with :func:`train` on clips with phone timings (``data synth``
clips carry exact ones) and shipped inside the package (``phone_model.safetensors``
+ ``phone_model.json``: architecture, classes, class prior, provenance).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from pyavatar.audio.features import HOP, N_MELS, SAMPLE_RATE, batch_log_mel
from pyavatar.checkpoints import check_finite, save_weights

#: Phone classes by their members' first IPA symbol (``sil`` is silence).
GROUPS: dict[str, str] = {
    "a": "a ɑ æ ɐ ɒ ʌ",
    "e": "e ɛ",
    "i": "i ɪ y ʏ ɨ ᵻ",
    "o": "o ɔ ø œ ɵ",
    "u": "u ʊ ɯ",
    "ə": "ə ɜ ɚ",
    "p": "p",
    "b": "b β",
    "t": "t",
    "d": "d",
    "k": "k c",
    "g": "ɡ g ɣ",
    "m": "m ɱ",
    "n": "n ɲ ŋ ɴ",
    "f": "f ɸ",
    "v": "v",
    "s": "s",
    "z": "z",
    "ʃ": "ʃ ɕ",
    "ʒ": "ʒ ʑ",
    "θ": "θ",
    "ð": "ð",
    "h": "h x χ ç ʔ",
    "l": "l ʎ ɫ ɬ",
    "r": "ɹ r ɾ ʁ ʀ ɻ",
    "j": "j ɥ ʝ",
    "w": "w ʍ",
}
CLASSES: tuple[str, ...] = ("sil", *GROUPS)
_SYMBOL = {s: i + 1 for i, k in enumerate(GROUPS) for s in GROUPS[k].split()}
#: Classes whose closure is silent: a stop may explain silence frames without a pause.
STOPS = frozenset(CLASSES.index(c) for c in ("p", "b", "t", "d", "k", "g"))
_FALLBACK = CLASSES.index("ə")
KIND = "phone-posteriors"
#: Where the shipped model lives.
BUNDLED = Path(__file__).with_name("phone_model.safetensors")


def phone_class(name: str) -> int:
    """Index into :data:`CLASSES` of an IPA phone (its first known symbol; unknown ones count as ``ə``)."""
    for ch in unicodedata.normalize("NFD", name):
        if ch in _SYMBOL:
            return _SYMBOL[ch]
    return _FALLBACK


def input_frames(samples: np.ndarray) -> np.ndarray:
    """(T, 80) float32 log-mel of 16 kHz ``samples``, each band normalised to zero mean and unit spread."""
    lm = batch_log_mel(samples)
    return ((lm - lm.mean(axis=0)) / (lm.std(axis=0) + 1e-3)).astype(np.float32)


def frame_labels(phones: Sequence[tuple[str, float, float]], n: int) -> np.ndarray:
    """(n,) class index per 100 Hz frame (``sil`` outside the named phones)."""
    y = np.zeros(n, dtype=np.int64)
    for name, start, end in phones:
        if name:
            y[int(round(start * 100)) : int(round(end * 100))] = phone_class(name)
    return y


@dataclass(frozen=True)
class PhoneNetConfig:
    """Architecture: one convolution (5 frames) then ``layers`` bidirectional GRU layers of ``hidden`` units."""

    hidden: int = 96
    layers: int = 2


class PhoneNet(torch.nn.Module):
    """(B, T, 80) normalised log-mel to (B, T, len(CLASSES)) logits."""

    def __init__(self, cfg: PhoneNetConfig) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(N_MELS, cfg.hidden, 5, padding=2)
        self.gru = torch.nn.GRU(cfg.hidden, cfg.hidden, num_layers=cfg.layers, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(2 * cfg.hidden, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per frame."""
        h = torch.nn.functional.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.out(self.gru(h)[0])


@dataclass
class PhoneModel:
    """A trained :class:`PhoneNet` with the class prior of its training frames."""

    net: PhoneNet
    cfg: PhoneNetConfig
    prior: np.ndarray
    meta: dict

    def log_posteriors(self, samples: np.ndarray) -> np.ndarray:
        """(T, C) log posteriors of the 100 Hz frames of 16 kHz ``samples``."""
        x = torch.from_numpy(input_frames(samples))[None]
        with torch.no_grad():
            return torch.log_softmax(self.net.eval()(x), dim=-1)[0].numpy().astype(np.float64)

    def save(self, path: str | Path) -> None:
        """``path`` (.safetensors) plus its JSON beside it, each written atomically."""
        meta = {
            "kind": KIND,
            "model": {"hidden": self.cfg.hidden, "layers": self.cfg.layers},
            "classes": list(CLASSES),
            "prior": [round(float(p), 6) for p in self.prior],
            **{k: v for k, v in self.meta.items() if k not in ("kind", "model", "classes", "prior")},
        }
        save_weights(self.net.state_dict(), meta, Path(path))


def load(path: str | Path) -> PhoneModel:
    """A :class:`PhoneModel` from ``path`` and its JSON; errors name the file and the key."""
    import json

    path = Path(path)
    js = path.with_suffix(".json")
    for p in (path, js):
        if not p.is_file():
            raise FileNotFoundError(f"phone model file not found: {p}")
    meta = json.loads(js.read_text())
    if meta.get("kind") != KIND:
        raise ValueError(f"{js}: kind must be {KIND!r}, got {meta.get('kind')!r}")
    if tuple(meta.get("classes", ())) != CLASSES:
        raise ValueError(f"{js}: 'classes' differ from this version's {len(CLASSES)} classes; retrain the model")
    prior = np.asarray(meta.get("prior", ()), dtype=np.float64)
    if prior.shape != (len(CLASSES),) or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
        raise ValueError(f"{js}: 'prior' must hold {len(CLASSES)} positive numbers")
    arch = meta.get("model", {})
    unknown = sorted(set(arch) - set(PhoneNetConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{js}: unknown model keys {unknown}")
    cfg = PhoneNetConfig(**{k: int(v) for k, v in arch.items()})
    state = load_file(str(path))
    check_finite(state, str(path))
    net = PhoneNet(cfg)
    missing, extra = net.load_state_dict(state, strict=False)
    if missing or extra:
        raise ValueError(f"{path}: missing keys {missing}, unexpected keys {extra}")
    return PhoneModel(net.eval(), cfg, prior / prior.sum(), meta)


def bundled() -> PhoneModel:
    """The phone model shipped in the package."""
    if not BUNDLED.is_file():
        raise FileNotFoundError(
            f"{BUNDLED} is missing from this install; reinstall pyavatar or align with method='dtw'"
        )
    return load(BUNDLED)


def train(
    clips: Sequence[tuple[np.ndarray, Sequence[tuple[str, float, float]]]],
    *,
    steps: int = 1500,
    cfg: PhoneNetConfig | None = None,
    seed: int = 0,
    batch: int = 16,
    crop: int = 300,
    lr: float = 2e-3,
    progress: bool = True,
) -> PhoneModel:
    """Train on ``clips`` (16 kHz samples, IPA phone timings); each batch shifts every band by a random colour."""
    if not clips:
        raise ValueError("no clips to train the phone model on")
    cfg = cfg or PhoneNetConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = []
    for samples, phones in clips:
        x = input_frames(samples)
        data.append((x, frame_labels(phones, len(x))))
    counts = np.bincount(np.concatenate([y for _, y in data]), minlength=len(CLASSES)) + 10.0
    net = PhoneNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    bar = tqdm(range(steps), desc="train-aligner", unit="step", disable=not progress)
    for _ in bar:
        xb, yb = [], []
        for i in rng.integers(len(data), size=batch):
            x, y = data[i]
            a = int(rng.integers(max(1, len(x) - crop + 1)))
            xx, yy = x[a : a + crop], y[a : a + crop]
            pad = crop - len(xx)
            colour = rng.uniform(-0.3, 0.3, size=(1, N_MELS)).astype(np.float32)
            xb.append(np.pad(xx + colour, ((0, pad), (0, 0))))
            yb.append(np.pad(yy, (0, pad), constant_values=-1))
        logits = net(torch.from_numpy(np.stack(xb)))
        target = torch.from_numpy(np.stack(yb)).reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(CLASSES)), target, ignore_index=-1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    meta = {"steps": steps, "seed": seed, "clips": len(clips), "frames_per_s": SAMPLE_RATE // HOP}
    return PhoneModel(net.eval(), cfg, counts / counts.sum(), meta)
