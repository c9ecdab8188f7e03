"""Audio augmentation for training clips; every transform keeps the phone timings valid.

Only :func:`tempo` changes timing, and it returns the factor by which phone
times must be divided. Noise levels are set against the RMS of the speech
samples (not the silent padding).
"""

from __future__ import annotations

import numpy as np

from pyavatar.data._signal import butter, resample_poly, sosfilt
from pyavatar.evaluation.synthetic import pink_noise, reverb, sox_tempo


def speech_rms(x: np.ndarray) -> float:
    """RMS of the samples above -80 dBFS (the speech, not the padding)."""
    loud = x[np.abs(x) > 1e-4]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0


def add_noise(x: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """White or pink noise at ``snr_db`` below the speech level."""
    noise = rng.standard_normal(len(x)) if kind == "white" else pink_noise(len(x), rng)
    return x + noise * speech_rms(x) / 10 ** (snr_db / 20)


def add_reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room (exponentially decaying noise tail) with reverberation time ``rt60`` seconds."""
    return reverb(x, sr, rt60, rng)


def tempo(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Speed up by ``factor`` with pitch kept (sox); divide phone times by ``factor``."""
    return sox_tempo(x.astype(np.float32), sr, factor).astype(np.float64)


def telephone(x: np.ndarray, sr: int) -> np.ndarray:
    """8 kHz narrowband telephone channel (300-3400 Hz), back at ``sr``."""
    y = resample_poly(x, 8000, sr)
    y = sosfilt(butter(4, [300, 3400], btype="band", fs=8000, output="sos"), y)
    return resample_poly(y, sr, 8000)[: len(x)]


def vtlp(x: np.ndarray, sr: int, alpha: float) -> np.ndarray:
    """Vocal-tract-length perturbation: every frequency (formants and pitch) scaled by ``alpha`` (about 0.9-1.1).

    Resampling by ``1 / alpha`` scales the spectrum; a pitch-keeping tempo change
    (sox) by the same factor restores the timing, so phone labels stay valid.
    """
    down = int(round(100 * alpha))
    y = resample_poly(x, 100, down)
    y = tempo(y, sr, 100 / down)
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def gain(x: np.ndarray, gain_db: float) -> tuple[np.ndarray, float]:
    """``x`` scaled by ``gain_db``, then limited to a 0.98 peak; returns the gain actually applied."""
    y = x * 10 ** (gain_db / 20)
    peak = float(np.abs(y).max(initial=0.0))
    if peak > 0.98:
        y *= 0.98 / peak
        gain_db -= 20 * np.log10(peak / 0.98)
    return y, gain_db


Phones = list[tuple[str, float, float]]


def apply(
    x: np.ndarray,
    sr: int,
    phones: Phones,
    rng: np.random.Generator,
    p: dict[str, float],
    vtlp_range: tuple[float, float] = (0.9, 1.1),
) -> tuple[np.ndarray, Phones, dict]:
    """Each augmentation of ``p`` (name -> probability: vtlp, tempo, reverb, telephone, noise) drawn, then gain.

    Returns the audio, the phones (divided by the tempo factor) and what was applied (for ``meta``).
    """
    meta: dict = {}
    draw = {k: bool(rng.random() < q) for k, q in p.items()}
    if draw.get("vtlp"):
        alpha = float(rng.uniform(*vtlp_range))
        x = vtlp(x, sr, alpha)
        meta["vtlp"] = round(alpha, 3)
    if draw.get("tempo"):
        factor = float(rng.uniform(0.85, 1.2))
        x = tempo(x, sr, factor)
        phones = [(n, a / factor, b / factor) for n, a, b in phones]
        meta["tempo"] = round(factor, 3)
    if draw.get("reverb"):
        rt60 = float(rng.uniform(0.15, 0.6))
        x = add_reverb(x, sr, rt60, rng)
        meta["rt60_s"] = round(rt60, 2)
    if draw.get("telephone"):
        x = telephone(x, sr)
        meta["telephone"] = True
    if draw.get("noise"):
        snr, kind = float(rng.uniform(0, 25)), str(rng.choice(["white", "pink"]))
        x = add_noise(x, snr, kind, rng)
        meta.update(noise=kind, snr_db=round(snr, 1))
    x, g = gain(x, float(rng.uniform(-18, 3)))
    meta["gain_db"] = round(g, 1)
    return x, phones, meta
