"""Score lip-sync motion sources on an evaluation set, always next to the naive RMS baseline.

Motion sources are looked up by name in the motion registry
(:mod:`pyavatar.motion.registry`) and scored through their lip engine (``dsp``: the
DSP engine with an optional vowel profile; ``learned``: a MouthNet checkpoint given
as weights, or the bundled model). Metrics are reported pooled and per voice family (the manifest's
``family``).

The baseline's jaw is the file's RMS envelope at 25 fps divided by its 99th
percentile (clipped to 0..1, so it even sees the whole file in advance), and its
viseme is ``aa`` whenever that jaw exceeds the open threshold. An engine is
only as good as its margin over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from pyavatar.audio.align import FeatureAligner
from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import FileSource
from pyavatar.evaluation.dataset import FPS, load_dataset
from pyavatar.evaluation.metrics import OPEN_THRESHOLD, Prediction, count, summarize
from pyavatar.motion.lips.engine import DspLipEngine
from pyavatar.motion.lips.profile import VowelProfile
from pyavatar.motion.registry import make_motion_source, motion_source_info
from pyavatar.packets import FeatureChunk, LipChunk

#: The issue's goals on the synthetic set: metric -> (comparison, threshold).
GOALS = {
    "jaw_corr_speech": (">=", 0.70),
    "vowel_accuracy": (">=", 0.55),
    "silence_open_rate": ("<=", 0.02),
    "best_lag_ms": ("abs<=", 40),
}


def baseline(feats: FeatureChunk) -> Prediction:
    """The RMS-envelope baseline from 100 Hz features."""
    al = FeatureAligner(FPS)
    parts = [p for p in (al.process(feats), al.flush()) if p is not None]
    rms = np.concatenate([p.rms for p in parts]).astype(np.float64)
    scale = np.percentile(rms, 99) if len(rms) else 1.0
    jaw = np.clip(rms / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(rms)
    vis = np.zeros((len(jaw), 5))
    vis[:, 0] = np.where(jaw > OPEN_THRESHOLD, jaw, 0.0)
    return Prediction(jaw, vis)


class LipEngine(Protocol):
    """What a motion source offers the evaluation: the DSP engine's streaming interface."""

    def process(self, feats: FeatureChunk) -> LipChunk | None:
        """Lip motion for the frames ``feats`` completes (None while it buffers)."""
        ...

    def flush(self) -> LipChunk | None:
        """Lip motion for the frames still buffered at the end of a stream."""
        ...


def lip_engine(name: str, weights: Path | None = None, profile: VowelProfile | None = None) -> LipEngine:
    """A fresh streaming lip engine of the registered motion source ``name`` at 25 fps.

    ``weights`` and ``profile`` go to the source when given (the registry refuses an option the source does
    not take, naming it); raises ValueError for a source without a lip engine (e.g. ``diffusion``).
    """
    options = {"weights": weights}
    if profile is not None:
        options["profile"] = profile
    source = make_motion_source(name, fps=FPS, **options)
    engine = getattr(source, "lip_engine", None)
    if engine is None:
        raise ValueError(
            f"motion source {name!r} has no lip engine to score; lip-sync evaluation scores sources "
            "with one (e.g. dsp, learned)"
        )
    return engine


def run_engine(engine: LipEngine, feats: FeatureChunk) -> Prediction:
    """An engine's 25 fps prediction for one file's 100 Hz features."""
    parts: list[LipChunk] = [p for p in (engine.process(feats), engine.flush()) if p is not None]
    return Prediction(np.concatenate([p.jaw_open for p in parts]), np.concatenate([p.visemes for p in parts]))


def dsp_engine(profile: VowelProfile | None = None) -> Callable[[FeatureChunk], Prediction]:
    """The DSP engine as an evaluation function of 100 Hz features."""
    return lambda feats: run_engine(DspLipEngine(profile, fps=FPS), feats)


def check_goals(pooled: dict[str, float]) -> dict[str, bool]:
    """Which of :data:`GOALS` the pooled metrics meet."""
    out = {}
    for k, (op, v) in GOALS.items():
        x = pooled[k]
        out[k] = x >= v if op == ">=" else x <= v if op == "<=" else abs(x) <= v
    return out


def evaluate(
    folder: str | Path,
    engine: str = "dsp",
    profile: VowelProfile | None = None,
    weights: str | Path | None = None,
    compare: tuple[str, ...] = (),
) -> dict:
    """Per-file, per-family and pooled metrics of motion ``engine``, of ``compare`` sources and of the baseline.

    ``weights`` belong to ``engine``; ``compare`` sources (e.g. ``dsp``) run with their defaults
    on the same features in the same run. Goals and margins are those of ``engine``.
    """
    names = [engine, *(c for c in compare if c != engine)]
    wpath = Path(weights) if weights is not None else None
    args = {
        n: (wpath if n == engine else None, profile if "profile" in motion_source_info(n).options else None)
        for n in names
    }
    for n in names:
        lip_engine(n, *args[n])  # fail before the work on a bad name/weights
    items = load_dataset(folder)
    who = [*names, "baseline"]
    files: list[dict] = []
    counts: dict[str, list] = {w: [] for w in who}
    by_family: dict[str, dict[str, list]] = {}
    t0 = time.perf_counter()
    audio_s = 0.0
    for item in items:
        src = FileSource(item.wav, chunk_ms=100)
        feats = analyze(src, src.sample_rate)
        audio_s += len(feats) / 100
        fam = by_family.setdefault(item.family, {w: [] for w in who})
        row = {"name": item.name, "meta": {k: v for k, v in item.reference.meta.items() if k != "phones"}}
        for w in who:
            pred = baseline(feats) if w == "baseline" else run_engine(lip_engine(w, *args[w]), feats)
            c = count(pred, item.reference)
            counts[w].append(c)
            fam[w].append(c)
            row[w] = summarize([c])
        files.append(row)
    pooled = {w: summarize(counts[w]) for w in who}
    pe, pb = pooled[engine], pooled["baseline"]
    return {
        "dataset": str(folder),
        "engine": engine,
        "compare": names[1:],
        "files": len(items),
        "audio_seconds": round(audio_s, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "pooled": {
            **pooled,
            "margin": {k: round(pe[k] - pb[k], 4) for k in ("jaw_corr_speech", "jaw_corr_all", "vowel_accuracy")},
        },
        "per_family": {
            f: {**{w: summarize(c) for w, c in rows.items()}, "files": len(rows[engine])}
            for f, rows in sorted(by_family.items())
        },
        "goals": {"targets": {k: f"{op} {v}" for k, (op, v) in GOALS.items()}, "met": check_goals(pe)},
        "per_file": files,
    }


def summary_lines(report: dict) -> list[str]:
    """A short human-readable table of a report."""
    e = report["engine"]
    lines = [f"{report['files']} files, {report['audio_seconds']} s of audio"]
    for name in (e, *report.get("compare", []), "baseline"):
        p = report["pooled"][name]
        lines.append(
            f"{name:>9}: jaw r(speech) {p['jaw_corr_speech']:.3f}  r(all) {p['jaw_corr_all']:.3f}  "
            f"vowel acc {p['vowel_accuracy']:.1%}  silence open {p['silence_open_rate']:.1%}  "
            f"lag {p['best_lag_ms']:+d} ms"
        )
    for fam, rows in report.get("per_family", {}).items():
        lines.append(f"  {fam} ({rows['files']} files)")
        for name in (e, *report.get("compare", []), "baseline"):
            p = rows[name]
            lines.append(
                f"    {name:>9}: r(speech) {p['jaw_corr_speech']:.3f}  r(all) {p['jaw_corr_all']:.3f}  "
                f"vowel {p['vowel_accuracy']:.1%}  sil-open {p['silence_open_rate']:.1%}  "
                f"lag {p['best_lag_ms']:+d} ms"
            )
    met = report["goals"]["met"]
    lines.append("goals: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in met.items()))
    return lines
