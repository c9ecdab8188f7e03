"""Training examples: clips of pyavatar-lipsync folders as model input rows and per-10 ms targets.

Targets per 10 ms row: jaw, class (aa ih ou ee oh cons sil), wide/round (the
DSP engine's per-vowel tables, zero for consonants and silence) and speaking.
They are built at 100 Hz from the clip's phone timings (``meta.phones``, which
every data tool writes), so openings and closings are placed to the row; a
clip without phones uses its 25 fps reference (``NAME.json``), each frame
repeated over its four rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import FileSource
from pyavatar.evaluation.dataset import Item, Reference, load_dataset, reference_from_phones
from pyavatar.motion.learned.model import CLASSES, InputNorm
from pyavatar.motion.lips.engine import ROUND, WIDE
from pyavatar.packets import FeatureChunk

_WIDE = np.concatenate([WIDE, [0.0, 0.0]])
_ROUND = np.concatenate([ROUND, [0.0, 0.0]])


@dataclass
class Clip:
    """One clip ready for training: ``x`` (T, N_IN) and targets (T, 5): jaw, class, wide, round, speaking."""

    item: Item
    x: np.ndarray
    y: np.ndarray


_FEATURES: dict[tuple[str, int, int], FeatureChunk] = {}


def features(wav: Path) -> FeatureChunk:
    """100 Hz features of one file, memoised per process by (path, mtime, size)."""
    st = wav.stat()
    key = (str(wav.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _FEATURES:
        src = FileSource(wav, chunk_ms=100)
        _FEATURES[key] = analyze(src, src.sample_rate)
    return _FEATURES[key]


def input_rows(wav: Path) -> np.ndarray:
    """MouthNet input rows of one file."""
    feats = features(wav)
    return InputNorm()(feats.log_mel, feats.voicing)


def log_mel(wav: Path) -> np.ndarray:
    """(N, 80) 100 Hz log-mel frames of one file (the diffusion generator's audio condition)."""
    return features(wav).log_mel


def _rows(ref: Reference) -> np.ndarray:
    cls = np.array([CLASSES.index(v) for v in ref.visemes], dtype=np.float64)
    return np.stack([ref.jaw_open, cls, _WIDE[cls.astype(int)], _ROUND[cls.astype(int)], ref.speaking], axis=1)


def targets(item: Item) -> np.ndarray:
    """(T, 5) targets at 100 Hz (see the module docstring)."""
    phones = item.reference.meta.get("phones")
    if not phones:
        return np.repeat(_rows(item.reference), 4, axis=0)
    import soundfile as sf

    duration = sf.info(str(item.wav)).duration
    return _rows(reference_from_phones([(str(n), float(a), float(b)) for n, a, b in phones], duration, fps=100))


def prepare(item: Item) -> Clip:
    """Features and 100 Hz targets of one dataset item."""
    x = input_rows(item.wav)
    y = targets(item)
    n = min(len(x), len(y))
    return Clip(item, x[:n], y[:n].astype(np.float32))


def load_clips(folders: list[str | Path], progress: bool = True) -> list[Clip]:
    """Every clip of ``folders`` (in folder order, names sorted)."""
    items = [it for f in folders for it in load_dataset(f)]
    return [prepare(it) for it in tqdm(items, desc="features", unit="clip", disable=not progress)]
