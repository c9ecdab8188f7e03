"""How often a lip engine opens the mouth on speech-free input: room noise, hum, a fan, keyboard clicks.

A streamer's microphone hears these between sentences, often for minutes, and the mouth should stay
closed. The lip-sync sets cannot show it: every clip there holds speech, and the engines' level
features adapt to the loudest sound heard so far, which here is the noise itself. Each signal is
streamed through a fresh engine (``seconds`` long, fixed level); the figure is the share of 25 fps
frames whose jaw opens past the evaluation's open threshold (features are computed once per signal
and shared by the engines). Mains hum and clicks are kinds that ``pyavatar data noise`` never
generates, so a model trained with its clips is also checked on noise it never heard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import ArraySource
from pyavatar.evaluation.lipsync import lip_engine, run_engine
from pyavatar.evaluation.metrics import OPEN_THRESHOLD
from pyavatar.evaluation.synthetic import pink_noise
from pyavatar.packets import FeatureChunk

RATE = 16_000
#: The goal: open on at most this share of frames (or no more often than the DSP engine).
GOAL_OPEN_RATE = 0.02


def _at(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``dbfs``."""
    return x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2))


def signals(seconds: float = 20.0, seed: int = 5) -> dict[str, np.ndarray]:
    """The speech-free test signals (16 kHz float32), by label."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    fan = np.convolve(rng.standard_normal(n), np.ones(40) / 40, "same")  # noise low-passed below ~400 Hz
    clicks = (rng.random(n) < 8 / RATE) * rng.uniform(0.05, 0.2, n) * np.sign(rng.standard_normal(n))
    out = {
        "pink noise -50 dBFS": _at(pink_noise(n, rng), -50),
        "pink noise -35 dBFS": _at(pink_noise(n, rng), -35),
        "white noise -45 dBFS": _at(rng.standard_normal(n), -45),
        "mains hum 50 Hz -40 dBFS": _at(sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6)), -40),
        "fan (low-passed noise) -45 dBFS": _at(fan, -45),
        "keyboard clicks over pink -55 dBFS": _at(pink_noise(n, rng), -55) + clicks,
    }
    return {k: v.astype(np.float32) for k, v in out.items()}


def open_rate(motion: str, feats: FeatureChunk, weights: Path | None = None) -> float:
    """Share of 25 fps frames whose jaw opens past the threshold, streaming ``feats`` through a fresh engine."""
    pred = run_engine(lip_engine(motion, weights), feats)
    return float(np.mean(pred.jaw_open > OPEN_THRESHOLD))


def evaluate_speech_free(
    motion: str, weights: str | Path | None = None, compare: tuple[str, ...] = (), seconds: float = 20.0, seed: int = 5
) -> dict:
    """Open rates of ``motion`` (and of each ``compare`` source) on every signal, and the goal per signal."""
    feats = {k: analyze(ArraySource(x, RATE, chunk_ms=40), RATE) for k, x in signals(seconds, seed).items()}
    w = Path(weights) if weights else None
    rates = {motion: {k: open_rate(motion, f, w) for k, f in feats.items()}}
    for name in compare:
        rates[name] = {k: open_rate(name, f) for k, f in feats.items()}
    ref = rates.get("dsp") if motion != "dsp" else None
    met = {k: r <= max(GOAL_OPEN_RATE, ref[k] if ref else 0.0) for k, r in rates[motion].items()}
    return {
        "engine": motion,
        "weights": str(w) if w else None,
        "seconds": seconds,
        "seed": seed,
        "open_threshold": OPEN_THRESHOLD,
        "open_rate": rates,
        "goal": f"open rate <= {GOAL_OPEN_RATE:.0%}" + (" or no more than dsp" if ref else ""),
        "met": met,
    }


def summary_lines(report: dict) -> list[str]:
    """Human-readable lines of a report: one per signal, every engine's open rate."""
    names = list(report["open_rate"])
    lines = [f"mouth open on speech-free input ({report['seconds']:g} s each, jaw > {report['open_threshold']})"]
    for label, ok in report["met"].items():
        cells = "  ".join(f"{n} {100 * report['open_rate'][n][label]:5.1f} %" for n in names)
        lines.append(f"  {label:<36} {cells}  {'ok' if ok else 'MISSED'}")
    lines.append(f"goal ({report['goal']}): {'met' if all(report['met'].values()) else 'MISSED'}")
    return lines
