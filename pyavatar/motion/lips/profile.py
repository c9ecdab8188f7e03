"""Vowel profiles: MFCC templates per vowel and the metric they are compared with.

A profile holds, per VRM vowel (``aa ih ou ee oh``), one or more templates of
MFCCs ``c1..c12`` (frames of :mod:`pyavatar.audio.features`), plus a shared
whitening matrix (the inverse square root of the pooled within-vowel
covariance) so distances are Mahalanobis distances. Calibration replaces the
templates with the speaker's own and keeps the metric. The generic default
profile ships as ``default_profile.json`` next to this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.packets import VRM_VISEMES, FeatureChunk

PROFILE_VERSION = 1
MFCC_SLICE = slice(1, 13)
N_DIM = MFCC_SLICE.stop - MFCC_SLICE.start
DEFAULT_PROFILE = "default_profile.json"


def mfcc_vector(mfcc: np.ndarray) -> np.ndarray:
    """The profile's feature vectors (…, 12) from full (…, 13) MFCCs."""
    return np.asarray(mfcc, dtype=np.float64)[..., MFCC_SLICE]


@dataclass
class VowelProfile:
    """Templates ``{vowel: (n_i, 12)}`` and the (12, 12) whitening ``metric``."""

    templates: dict[str, np.ndarray]
    metric: np.ndarray = field(default_factory=lambda: np.eye(N_DIM))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [v for v in VRM_VISEMES if v not in self.templates]
        if missing:
            raise ValueError(f"profile: no templates for vowel(s) {missing}")
        for v, t in self.templates.items():
            t = np.atleast_2d(np.asarray(t, dtype=np.float64))
            if t.shape[1:] != (N_DIM,) or not len(t) or not np.isfinite(t).all():
                raise ValueError(f"profile: templates[{v!r}] must be finite (n, {N_DIM}), got {t.shape}")
            self.templates[v] = t
        self.metric = np.asarray(self.metric, dtype=np.float64)
        if self.metric.shape != (N_DIM, N_DIM):
            raise ValueError(f"profile: metric must be ({N_DIM}, {N_DIM}), got {self.metric.shape}")

    def distances(self, vectors: np.ndarray) -> np.ndarray:
        """(T, 5) squared whitened distance of (T, 12) vectors to the nearest template of each vowel."""
        x = np.atleast_2d(vectors) @ self.metric.T
        out = np.empty((len(x), len(VRM_VISEMES)))
        for j, v in enumerate(VRM_VISEMES):
            t = self.templates[v] @ self.metric.T
            out[:, j] = ((x[:, None, :] - t[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (see :func:`load_profile`)."""
        return {
            "version": PROFILE_VERSION,
            "features": "mfcc c1..c12 of pyavatar.audio.features (16 kHz, 512-sample window, 80 mel bins)",
            "templates": {v: np.round(self.templates[v], 5).tolist() for v in VRM_VISEMES},
            "metric": np.round(self.metric, 6).tolist(),
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> None:
        """Write the profile as JSON."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n")


def load_profile(path: str | Path | None = None) -> VowelProfile:
    """A profile from a JSON file, or the shipped default when ``path`` is ``None``."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_PROFILE).read_text(encoding="utf-8")
        where = f"{__package__}/{DEFAULT_PROFILE}"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    obj = json.loads(text)
    if obj.get("version") != PROFILE_VERSION:
        raise ValueError(f"{where}: unsupported profile version {obj.get('version')!r} (want {PROFILE_VERSION})")
    try:
        return VowelProfile(
            {v: np.asarray(t) for v, t in obj["templates"].items()},
            np.asarray(obj["metric"]),
            dict(obj.get("meta", {})),
        )
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e.args[0]!r}") from None


def whitening(samples: dict[str, np.ndarray]) -> np.ndarray:
    """Inverse square root of the pooled within-class covariance of ``{vowel: (n, 12)}`` samples."""
    centred = np.concatenate([s - s.mean(axis=0) for s in samples.values()])
    cov = centred.T @ centred / max(len(centred) - len(samples), 1)
    vals, vecs = np.linalg.eigh(cov + 1e-3 * np.trace(cov) / N_DIM * np.eye(N_DIM))
    return (vecs / np.sqrt(vals)) @ vecs.T


def voiced_frames(feats: FeatureChunk, *, min_voicing: float = 0.6, top_db: float = 15.0) -> np.ndarray:
    """MFCC vectors of the loud, voiced frames of a vowel recording (the calibration material)."""
    db = 20 * np.log10(feats.rms.astype(np.float64) + 1e-9)
    keep = (feats.voicing >= min_voicing) & (db >= db.max(initial=-200) - top_db)
    return mfcc_vector(feats.mfcc[keep])


def calibrate(
    recordings: dict[str, FeatureChunk], base: VowelProfile | None = None, *, n_templates: int = 3
) -> VowelProfile:
    """A speaker profile from one recording per vowel (100 Hz features of a sustained vowel or a word).

    Each vowel gets ``n_templates`` templates: the means of consecutive thirds
    of its voiced frames (covers onset drift). The metric comes from ``base``
    (default profile when ``None``).
    """
    base = base or load_profile()
    templates = {}
    for v in VRM_VISEMES:
        if v not in recordings:
            raise ValueError(f"calibrate: no recording for vowel {v!r}")
        frames = voiced_frames(recordings[v])
        if len(frames) < n_templates * 3:
            raise ValueError(
                f"calibrate: recording for {v!r} has only {len(frames)} loud voiced frames "
                f"(need {n_templates * 3}); speak longer or louder"
            )
        templates[v] = np.stack([part.mean(axis=0) for part in np.array_split(frames, n_templates)])
    return VowelProfile(
        templates,
        base.metric.copy(),
        {"source": "calibration", "frames": {v: int(len(voiced_frames(recordings[v]))) for v in VRM_VISEMES}},
    )
