"""How often a lip engine opens the mouth on speech-free input: room noise, hum, a fan, keyboard clicks.

    python samples/lipsync_noise_check.py [--weights RUN/best.safetensors ...] [--seconds 20] [--seed 5]

A streamer's microphone hears these between sentences, often for minutes; the mouth should stay closed.
The lip-sync test sets cannot show it (every clip holds speech, and the engines' level features adapt to
the loudest thing heard so far). Each signal is 20 s at a fixed level, streamed through the engine from a
fresh start; the figure is the share of 25 fps frames with jaw open above the evaluation's open threshold
(0.15). Scored: DSP, and each learned model (default: the bundled one) with its own gate settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import ArraySource
from pyavatar.evaluation.lipsync import run_engine
from pyavatar.evaluation.metrics import OPEN_THRESHOLD
from pyavatar.evaluation.synthetic import pink_noise
from pyavatar.motion.learned.engine import LearnedLipEngine, bundled_weights
from pyavatar.motion.lips.engine import DspLipEngine

RATE = 16_000


def _db(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``dbfs``."""
    return x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2))


def signals(seconds: float, seed: int) -> dict[str, np.ndarray]:
    """The speech-free test signals, by label."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    fan = np.convolve(rng.standard_normal(n), np.ones(40) / 40, "same")  # noise low-passed below ~400 Hz
    clicks = (rng.random(n) < 8 / RATE) * rng.uniform(0.05, 0.2, n) * np.sign(rng.standard_normal(n))
    return {
        "pink noise -50 dBFS": _db(pink_noise(n, rng), -50),
        "pink noise -35 dBFS": _db(pink_noise(n, rng), -35),
        "white noise -45 dBFS": _db(rng.standard_normal(n), -45),
        "mains hum 50 Hz -40 dBFS": _db(sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6)), -40),
        "fan (low-passed noise) -45 dBFS": _db(fan, -45),
        "keyboard clicks over pink -55 dBFS": _db(pink_noise(n, rng), -55) + clicks,
    }


def open_rate(make: Callable[[], object], x: np.ndarray) -> float:
    """Share of 25 fps frames whose jaw opens past the threshold, streaming ``x`` from a fresh engine."""
    feats = analyze(ArraySource(x.astype(np.float32), RATE, chunk_ms=40), RATE)
    pred = run_engine(make(), feats)  # type: ignore[arg-type]
    return float(np.mean(pred.jaw_open > OPEN_THRESHOLD))


def main() -> None:
    """Print one row per engine: its open rate on every signal."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", action="append", help="learned model weights (repeatable; default: the bundled)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    weights = args.weights or ([str(bundled_weights())] if bundled_weights() else [])
    sig = signals(args.seconds, args.seed)
    engines: dict[str, Callable[[], object]] = {"dsp": lambda: DspLipEngine(fps=25)}
    for w in weights:
        engines[f"learned {w}"] = lambda w=w: LearnedLipEngine(w)
    print(f"mouth open on speech-free input (share of frames, jaw > {OPEN_THRESHOLD:.2f})")
    for label in sig:
        print(f"  {label}")
    for name, make in engines.items():
        print(f"{name}: " + " | ".join(f"{100 * open_rate(make, x):.1f} %" for x in sig.values()))


if __name__ == "__main__":
    main()
