r"""Train a generic vowel profile from labelled sets (how the shipped default profile is made).

Vowel frames are the 100 Hz frames labelled aa/ih/ou/ee/oh by the phone
timings stored in each file's ``meta.phones``. The metric is the whitening of
their pooled within-vowel covariance; each vowel gets ``k`` templates from
k-means in the whitened space. The shipped profile came from::

    pyavatar eval make-synthetic /tmp/lips-train --n 64 --seed 101 --noisy 0.25 \
        --voices en-us+f5,en+m5,de+m7,es+f4,fr+m2,de+f1,es+m6,en-us+m2
    pyavatar eval train-profile /tmp/lips-train pyavatar/motion/lips/default_profile.json

(voices disjoint from those of the committed evaluation report).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import FileSource
from pyavatar.evaluation.dataset import load_dataset, reference_from_phones
from pyavatar.motion.lips.profile import VowelProfile, mfcc_vector, whitening
from pyavatar.packets import VRM_VISEMES


def vowel_samples(folders: list[str | Path]) -> dict[str, np.ndarray]:
    """``{vowel: (n, 12)}`` MFCC vectors of every labelled vowel frame in ``folders``."""
    found: dict[str, list[np.ndarray]] = {v: [] for v in VRM_VISEMES}
    for folder in folders:
        for item in load_dataset(folder):
            phones = item.reference.meta.get("phones")
            if not phones:
                raise ValueError(f"{item.wav}: meta.phones is missing (needed for 100 Hz labels)")
            src = FileSource(item.wav, chunk_ms=100)
            feats = analyze(src, src.sample_rate)
            ref = reference_from_phones([tuple(p) for p in phones], len(feats) / 100, fps=100)
            x = mfcc_vector(feats.mfcc)
            for v in VRM_VISEMES:
                rows = [i for i, lab in enumerate(ref.visemes[: len(x)]) if lab == v]
                found[v].append(x[rows])
    return {v: np.concatenate(found[v]) for v in VRM_VISEMES}


def kmeans(x: np.ndarray, k: int, *, iters: int = 50, seed: int = 0) -> np.ndarray:
    """(k, D) centroids of ``x`` (Lloyd's algorithm, deterministic for a seed)."""
    if len(x) < k:
        raise ValueError(f"kmeans: {len(x)} samples for {k} clusters")
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
        new = np.stack([x[assign == j].mean(axis=0) if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def train_profile(folders: list[str | Path], *, k: int = 3, seed: int = 0) -> VowelProfile:
    """A generic profile from the vowel frames of ``folders``."""
    samples = vowel_samples(folders)
    w = whitening(samples)
    w_inv = np.linalg.inv(w)
    templates = {v: kmeans(s @ w.T, k, seed=seed) @ w_inv.T for v, s in samples.items()}
    meta = {
        "source": "generic",
        "trained_on": [Path(f).name for f in folders],
        "frames": {v: int(len(s)) for v, s in samples.items()},
        "templates_per_vowel": k,
    }
    return VowelProfile(templates, w, meta)
