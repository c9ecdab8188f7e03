"""``pyavatar data noise``: speech-free clips (room noise, fans, air hiss) labelled silence from end to end.

A live microphone spends much of its time hearing no speech, and a lip model
whose level features adapt to the loudest sound so far will take steady noise
for speech unless it has been shown otherwise. Every clip here is 4-12 s of one
or two noises, each at a level drawn from -70 to -30 dBFS and slowly modulated
(a fan speeding up, a door open): white, pink and brown noise, and noise
low-passed below 300-900 Hz (fans, rumble) or band-passed (air conditioning,
hiss). Mains hum and clicks are left out on purpose: they stay unseen kinds for
``pyavatar eval speech-free``. The reference is silence (mouth closed,
not speaking); clips have no phones, so ``data augment`` skips them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from pyavatar.data._signal import butter, sosfilt
from pyavatar.evaluation.dataset import read_manifest, reference_from_phones, save_item, write_manifest
from pyavatar.evaluation.synthetic import pink_noise

RATE = 16_000
KINDS = ("white", "pink", "brown", "lowpass", "bandpass")
#: The ``speaker`` and ``family`` of every clip (one group, so a split by speaker keeps them together).
GROUP = "speech-free"
LEVEL_DBFS = (-70.0, -30.0)
DURATION_S = (4.0, 12.0)


def noise(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``n`` samples of unit-RMS noise of ``kind`` and what was drawn for it."""
    if kind not in KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {KINDS}")
    white = rng.standard_normal(n)
    info: dict = {"kind": kind}
    if kind == "white":
        x = white
    elif kind == "pink":
        x = pink_noise(n, rng)
    elif kind == "brown":
        x = np.cumsum(white)
        x = sosfilt(butter(1, 20, btype="high", fs=RATE, output="sos"), x)  # no DC drift
    elif kind == "lowpass":
        fc = float(rng.uniform(300, 900))
        x = sosfilt(butter(4, fc, btype="low", fs=RATE, output="sos"), white)
        info["cutoff_hz"] = round(fc)
    else:
        lo = float(rng.uniform(200, 3000))
        hi = lo * float(rng.uniform(1.5, 3.0))
        x = sosfilt(butter(2, [lo, min(hi, 7500.0)], btype="band", fs=RATE, output="sos"), white)
        info["band_hz"] = [round(lo), round(min(hi, 7500.0))]
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-12), info


def clip(rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One speech-free clip: one or two noises at random levels, slowly modulated."""
    n = int(rng.uniform(*DURATION_S) * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n)
    parts = []
    for kind in rng.choice(KINDS, size=int(rng.integers(1, 3)), replace=False):
        x, info = noise(str(kind), n, rng)
        level = float(rng.uniform(*LEVEL_DBFS))
        depth_db = float(rng.uniform(0, 6))
        wobble = 10 ** (depth_db / 20 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi)))
        out += x * 10 ** (level / 20) * wobble
        parts.append({**info, "level_dbfs": round(level, 1), "modulation_db": round(depth_db, 1)})
    return out, parts


def noise_folder(out: str | Path, n: int, *, seed: int = 0, progress: bool = True) -> dict:
    """Write ``n`` speech-free clips into the dataset folder ``out`` (added to its manifest); returns a summary."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    clips = list(read_manifest(out).values()) if (out / "manifest.json").is_file() else []
    names = {c["name"] for c in clips}
    written = 0
    for i in tqdm(range(n), desc="noise", unit="clip", disable=not progress):
        x, parts = clip(rng)
        name = f"noise_s{seed}_{i:04d}"
        if name in names:
            raise ValueError(f"{out}: clip {name} exists already; pass another --seed to add more clips")
        ref = reference_from_phones([], len(x) / RATE)
        ref.meta = {"speaker": GROUP, "family": GROUP, "noise": parts, "phones": []}
        save_item(out, name, x, RATE, ref)
        clips.append({"name": name, "speaker": GROUP, "family": GROUP, "duration_s": round(len(x) / RATE, 3)})
        written += 1
    write_manifest(out, clips)
    return {"written": written, "clips": len(clips), "folder": str(out)}
