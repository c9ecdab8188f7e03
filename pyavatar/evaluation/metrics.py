"""Lip-sync metrics on 25 fps tracks (see :mod:`pyavatar.evaluation.dataset`).

- ``jaw_corr_speech`` / ``jaw_corr_all``: Pearson correlation of predicted and
  reference ``jaw_open`` over speech frames (``speaking == 1``) / all frames;
  pooled over files by concatenating their frames (so the engine must also be
  consistent in scale across files). ``jaw_corr_speech_file_mean`` averages
  the per-file speech correlations instead.
- ``vowel_accuracy``: share of vowel frames (labelled aa/ih/ou/ee/oh) whose
  strongest predicted viseme is the label (a frame with no viseme counts as wrong).
- ``silence_open_rate``: share of ``sil`` frames with predicted jaw_open > 0.15.
- ``best_lag_ms``: the shift of the prediction, on a 10 ms grid within ±200 ms,
  that maximises the all-frame jaw correlation; positive means the prediction
  is late. Both tracks are linearly interpolated to 100 Hz for the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyavatar.evaluation.dataset import FPS, Reference
from pyavatar.evaluation.phonemes import VOWEL_VISEMES

OPEN_THRESHOLD = 0.15
LAG_RANGE_MS = 200
LAG_STEP_MS = 10


@dataclass(frozen=True)
class Prediction:
    """Predicted 25 fps tracks: ``jaw_open`` (T,) and viseme weights (T, 5) in VRM order."""

    jaw_open: np.ndarray
    visemes: np.ndarray


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (0 when either side is constant or empty)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _fit(pred: Prediction, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction cut or padded (closed mouth, no viseme) to ``n`` frames."""
    jaw = np.zeros(n)
    vis = np.zeros((n, len(VOWEL_VISEMES)))
    m = min(n, len(pred.jaw_open))
    jaw[:m], vis[:m] = pred.jaw_open[:m], pred.visemes[:m]
    return jaw, vis


def _upsample(x: np.ndarray, factor: int) -> np.ndarray:
    centres = (np.arange(len(x)) + 0.5) * factor
    return np.interp(np.arange(len(x) * factor) + 0.5, centres, x)


def lag_curve(pred_jaw: np.ndarray, ref_jaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lags (ms) and the correlation of ``ref(t)`` with ``pred(t + lag)`` at each."""
    factor = 1000 // FPS // LAG_STEP_MS
    p, r = _upsample(pred_jaw, factor), _upsample(ref_jaw, factor)
    lags = np.arange(-LAG_RANGE_MS, LAG_RANGE_MS + 1, LAG_STEP_MS)
    corr = []
    for lag in lags:
        s = lag // LAG_STEP_MS
        if s >= 0:
            corr.append(pearson(r[: len(r) - s], p[s:]))
        else:
            corr.append(pearson(r[-s:], p[: len(p) + s]))
    return lags, np.asarray(corr)


@dataclass
class Counts:
    """Sufficient statistics of one file, poolable across files."""

    speech_pairs: tuple[np.ndarray, np.ndarray]
    all_pairs: tuple[np.ndarray, np.ndarray]
    vowel_frames: int
    vowel_correct: int
    sil_frames: int
    sil_open: int
    lag_corr: np.ndarray


def count(pred: Prediction, ref: Reference) -> Counts:
    """Per-file statistics of ``pred`` against ``ref``."""
    n = len(ref)
    jaw, vis = _fit(pred, n)
    speech = ref.speaking == 1
    labels = np.array(ref.visemes)
    vowel = np.isin(labels, VOWEL_VISEMES)
    best = np.array(VOWEL_VISEMES)[vis.argmax(axis=1)]
    correct = vowel & (vis.max(axis=1) > 0) & (best == labels)
    sil = labels == "sil"
    _, lag_corr = lag_curve(jaw, ref.jaw_open)
    return Counts(
        (jaw[speech], ref.jaw_open[speech]),
        (jaw, ref.jaw_open),
        int(vowel.sum()),
        int(correct.sum()),
        int(sil.sum()),
        int((sil & (jaw > OPEN_THRESHOLD)).sum()),
        lag_corr,
    )


def summarize(counts: list[Counts]) -> dict[str, float]:
    """Metrics of one file (a one-element list) or pooled over files (frames concatenated)."""
    sp = [np.concatenate([c.speech_pairs[i] for c in counts]) for i in (0, 1)]
    al = [np.concatenate([c.all_pairs[i] for c in counts]) for i in (0, 1)]
    vowels = sum(c.vowel_frames for c in counts)
    sils = sum(c.sil_frames for c in counts)
    lags = np.arange(-LAG_RANGE_MS, LAG_RANGE_MS + 1, LAG_STEP_MS)
    lag_corr = np.mean([c.lag_corr for c in counts], axis=0)
    return {
        "jaw_corr_speech": round(pearson(*sp), 4),
        "jaw_corr_all": round(pearson(*al), 4),
        "jaw_corr_speech_file_mean": round(float(np.mean([pearson(*c.speech_pairs) for c in counts])), 4),
        "vowel_accuracy": round(sum(c.vowel_correct for c in counts) / vowels, 4) if vowels else 0.0,
        "silence_open_rate": round(sum(c.sil_open for c in counts) / sils, 4) if sils else 0.0,
        "best_lag_ms": int(lags[int(np.argmax(lag_corr))]),
        "frames": int(len(al[0])),
        "vowel_frames": int(vowels),
        "silence_frames": int(sils),
    }
