"""Talking-head video → training data: 16 kHz audio, per-frame FaceParams and per-clip quality checks.

Each accepted clip becomes, in the output folder, the evaluation dataset's
pair (:mod:`pyavatar.evaluation.dataset`): ``NAME.wav`` (16 kHz mono PCM) and
``NAME.json`` (25 fps ``jaw_open``/``visemes``/``speaking`` tracks; visemes
are read from the tracked mouth shape on frames where the audio is loud
enough, ``meta`` holds the checks), plus ``NAME.face.npz``: the FaceParams of
every video frame (``values`` (T, F), ``names``, ``fps``, ``found``,
``extras``, ``extra_names``). ``manifest.json`` lists every clip, accepted or
not, with its checks.

The neutral face of a clip is the median mesh of its frames with the least
open mouth (speakers rarely hold a neutral face), so values are relative to
the speaker's own relaxed face.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.evaluation.dataset import FPS as DATASET_FPS
from pyavatar.evaluation.dataset import Reference, n_frames
from pyavatar.evaluation.dataset import write_manifest as write_dataset_manifest
from pyavatar.face.mappings import to_visemes
from pyavatar.face.params import NAMES, FaceParams
from pyavatar.tracking import mesh as m
from pyavatar.tracking.features import Gains, neutral_geometry
from pyavatar.tracking.tracker import CHANNELS, EXTRAS, measure, neutral_mesh
from pyavatar.video.files import iter_video, probe_video

AUDIO_RATE = 16_000
_VISEMES = ("aa", "ih", "ou", "ee", "oh")


@dataclass(frozen=True)
class Checks:
    """Thresholds of the per-clip checks.

    Attributes:
        min_found: fraction of frames in which the face mesh must be found.
        max_faces: faces allowed in any sampled frame (1: one speaker).
        min_detection: face-detector confidence a sampled frame's face must reach (landmark confidence).
        max_fit_error: median head-fit error allowed (a mesh that does not fit a rigid head is unreliable).
        cut_histogram: colour-histogram correlation below which consecutive frames count as a cut.
        cut_jump: face-centre move between consecutive frames (in face heights) that counts as a cut.
        sample_s: seconds between the frames the face detector checks.
    """

    min_found: float = 0.95
    max_faces: int = 1
    min_detection: float = 0.6
    max_fit_error: float = 0.08
    cut_histogram: float = 0.7
    cut_jump: float = 0.25
    sample_s: float = 0.5


@dataclass
class ClipReport:
    """What happened to one clip (one manifest entry)."""

    name: str
    video: str
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    frames: int = 0
    fps: float = 0.0
    duration_s: float = 0.0
    found: float = 0.0
    faces_max: int = 0
    detection_min: float = 0.0
    fit_error_median: float = float("nan")
    cuts: list[float] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def read_audio(path: str | Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """The first audio stream of a media file as mono float32 at ``rate`` Hz."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio track")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = []
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _histogram(rgb: np.ndarray) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = cv2.calcHist([hsv], [0, 1], None, [30, 16], [0, 180, 0, 256])
    return cv2.normalize(h, h).astype(np.float32)


def _speaking(audio: np.ndarray, frames: int) -> np.ndarray:
    """0/1 per 25 fps frame: RMS within 30 dB of the clip's loud frames and above -50 dBFS."""
    per = AUDIO_RATE // DATASET_FPS
    padded = np.pad(audio, (0, max(0, frames * per - len(audio))))[: frames * per].reshape(frames, per)
    db = 10 * np.log10(np.mean(padded.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.percentile(db, 95) if frames else -120.0
    return ((db > loud - 30) & (db > -50)).astype(np.int64)


def dataset_reference(params: FaceParams, fps: float, audio: np.ndarray, meta: dict[str, Any]) -> Reference:
    """25 fps dataset tracks from per-video-frame FaceParams and the clip's 16 kHz audio."""
    frames = n_frames(len(audio) / AUDIO_RATE)
    t = (np.arange(frames) + 0.5) / DATASET_FPS
    src = np.arange(len(params)) / fps
    mouth = {k: np.interp(t, src, params[k]) for k in ("jaw_open", "mouth_wide", "mouth_round")}
    shapes = to_visemes(FaceParams.from_fields(**mouth))
    weights = np.stack([shapes[v] for v in _VISEMES], axis=1)
    speaking = _speaking(audio, frames)
    labels = [
        "sil" if not s else ("cons" if w.max() < 0.15 else _VISEMES[int(w.argmax())]) for s, w in zip(speaking, weights)
    ]
    return Reference(np.clip(mouth["jaw_open"], 0, 1), labels, speaking, meta)


def clip_name(path: Path, taken: set[str]) -> str:
    """A file-system-safe, unique name for a clip."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "clip"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def extract_clip(
    video: str | Path,
    out: Path,
    name: str,
    *,
    checks: Checks = Checks(),
    gains: Gains | None = None,
    progress: Callable[[int], None] | None = None,
) -> ClipReport:
    """Track one clip, check it and, when accepted, write its files into ``out`` (see the module docstring)."""
    from mediapipe.python.solutions import face_detection

    from pyavatar.tracking.mesh import FaceMesh

    video = Path(video)
    info = probe_video(video)
    report = ClipReport(name, str(video), False, fps=info.fps, duration_s=info.duration_s)
    if not info.has_audio:
        report.reasons.append("no audio track")
        return report
    meshes: list[np.ndarray | None] = []
    scores: list[list[float]] = []
    cuts: list[float] = []
    prev_hist = prev_center = None
    next_sample = 0.0
    with FaceMesh() as mesh, face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.3) as det:
        for i, (t, rgb) in enumerate(iter_video(video)):
            points = mesh.process(rgb)
            meshes.append(points)
            hist = _histogram(rgb)
            if prev_hist is not None:
                import cv2

                jump = False
                if points is not None and prev_center is not None:
                    size = float(np.linalg.norm(points[m.CHIN, :2] - points[m.FOREHEAD, :2]))
                    jump = float(np.linalg.norm(points[m.RIGID, :2].mean(0) - prev_center)) > checks.cut_jump * size
                if jump or cv2.compareHist(prev_hist, hist, cv2.HISTCMP_CORREL) < checks.cut_histogram:
                    cuts.append(round(t, 3))
            prev_hist, prev_center = hist, None if points is None else points[list(m.RIGID), :2].mean(0)
            if t >= next_sample:
                result = det.process(np.ascontiguousarray(rgb))
                scores.append([float(d.score[0]) for d in result.detections or []])
                next_sample += checks.sample_s
            if progress is not None:
                progress(i)
    report.frames = len(meshes)
    found = [p for p in meshes if p is not None]
    report.found = round(len(found) / max(len(meshes), 1), 4)
    report.faces_max = max((sum(s >= 0.5 for s in frame) for frame in scores), default=0)
    report.detection_min = round(min((max(frame, default=0.0) for frame in scores), default=0.0), 4)
    report.cuts = cuts
    if report.found < checks.min_found:
        report.reasons.append(f"face found in {report.found:.0%} of frames (< {checks.min_found:.0%})")
    if report.faces_max > checks.max_faces:
        report.reasons.append(f"{report.faces_max} faces in one frame (> {checks.max_faces})")
    if report.detection_min < checks.min_detection:
        report.reasons.append(
            f"face confidence {report.detection_min:.2f} in a sampled frame (< {checks.min_detection})"
        )
    if cuts:
        report.reasons.append(f"cut(s) at {cuts} s")
    if not found:
        return report
    geometry = neutral_geometry(_neutral(found))
    values = np.full((len(meshes), len(CHANNELS)), np.nan)
    errors = []
    for i, points in enumerate(meshes):
        if points is not None:
            values[i], err = measure(geometry, points, gains or Gains())
            errors.append(err)
    report.fit_error_median = round(float(np.median(errors)), 4)
    if report.fit_error_median > checks.max_fit_error:
        report.reasons.append(f"median head-fit error {report.fit_error_median:.3f} (> {checks.max_fit_error})")
    if report.reasons:
        return report
    ok = ~np.isnan(values[:, 0])
    idx = np.arange(len(values))
    # fill the few frames without a face (and the gaze while both eyes are closed) from their neighbours
    values = np.stack(
        [
            np.interp(idx, idx[~np.isnan(c)], c[~np.isnan(c)]) if (~np.isnan(c)).any() else np.zeros(len(c))
            for c in values.T
        ],
        axis=1,
    )
    params = FaceParams.from_array(values[:, : len(NAMES)])
    audio = read_audio(video)
    meta = {
        "source": "video",
        "video": video.name,
        "video_fps": info.fps,
        "checks": _checks_meta(report),
        "visemes_from": "tracked mouth shape on frames with speech-level audio",
    }
    ref = dataset_reference(params, info.fps, audio, meta)
    out.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    _atomic(
        out / f"{name}.wav", lambda p: sf.write(p, np.clip(audio, -1, 1), AUDIO_RATE, subtype="PCM_16", format="WAV")
    )
    _atomic(out / f"{name}.face.npz", lambda p: _save_npz(p, params, info.fps, ok, values[:, len(NAMES) :]))
    _atomic(out / f"{name}.json", lambda p: p.write_text(json.dumps(ref.to_json(), ensure_ascii=False) + "\n"))
    report.accepted = True
    report.files = {"wav": f"{name}.wav", "json": f"{name}.json", "face": f"{name}.face.npz"}
    return report


def _save_npz(path: Path, params: FaceParams, fps: float, found: np.ndarray, extras: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez(
            f,
            values=params.values,
            names=np.array(NAMES),
            fps=np.float64(fps),
            found=found,
            extras=extras.astype(np.float32),
            extra_names=np.array(EXTRAS),
        )


def _checks_meta(report: ClipReport) -> dict[str, Any]:
    keys = ("found", "faces_max", "detection_min", "fit_error_median", "cuts")
    return {k: v for k, v in asdict(report).items() if k in keys}


def _neutral(meshes: list[np.ndarray]) -> np.ndarray:
    """Median mesh of the fifth of the frames with the least open mouth."""
    gaps = np.array([p[m.OUTER_LOWER_MID, 1] - p[m.OUTER_UPPER_MID, 1] for p in meshes])
    gaps = gaps / np.array([np.linalg.norm(p[m.CHIN, :2] - p[m.FOREHEAD, :2]) for p in meshes])
    keep = np.argsort(gaps)[: max(1, len(meshes) // 5)]
    return neutral_mesh([meshes[i] for i in sorted(keep)])


def write_manifest(out: Path, reports: list[ClipReport]) -> Path:
    """Write ``out/manifest.json`` in the dataset format of :mod:`pyavatar.evaluation.dataset`.

    Every clip's report is listed, accepted or not, with its speaker (the video) and family (``video``).
    """
    out.mkdir(parents=True, exist_ok=True)
    clips = [{**asdict(r), "speaker": r.name, "family": "video", "source": "extract-motion"} for r in reports]
    return write_dataset_manifest(out, clips, audio_rate=AUDIO_RATE, face_params=list(NAMES))
