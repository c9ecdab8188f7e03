"""Inputs, job files and checks shared by the batch tests (imported by worker processes too)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.batch import Job, render_job

FPS = 25
#: Jobs whose id is this make the worker process exit (a real crash, see :func:`crash_or_render`).
CRASH_ID = "crash"


def make_inputs(folder: Path, n_audio: int = 3, seconds: float = 1.0) -> None:
    """``p.jpg`` (the demo portrait), ``tiny.png`` (too small to prepare) and ``a0.wav``.. (speech snippets)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_PORTRAIT, folder / "p.jpg")
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder / "tiny.png")
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    n = round(seconds * rate)
    for i in range(n_audio):
        sf.write(folder / f"a{i}.wav", x[i * n : (i + 1) * n], rate)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV job file with the union of the rows' keys as columns."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def probe_rows(n: int, n_audio: int = 3) -> list[dict[str, Any]]:
    """``n`` quick jobs: the probe renderer, a 128 px portrait, 1 s of speech."""
    return [
        {
            "portrait": "p.jpg",
            "audio": f"a{i % n_audio}.wav",
            "output": f"clip{i}.mp4",
            "renderer": "probe",
            "size": 128,
            "fps": FPS,
        }
        for i in range(n)
    ]


def crash_or_render(job: Job, out_dir: str) -> dict[str, Any]:
    """Kill the worker process for the job :data:`CRASH_ID` (as a segfault or the OOM killer would), else render."""
    if job.id == CRASH_ID:
        os._exit(3)
    return render_job(job, out_dir)


def manifest(out: Path) -> list[dict[str, Any]]:
    """Every line of the manifest, parsed (fails on a partial line)."""
    path = out / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def decoded_frames(path: Path) -> int:
    """Video frames of ``path`` counted by decoding every packet (a truncated file raises or comes up short)."""
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def partials(out: Path) -> list[Path]:
    """Temporary files left in ``out``."""
    return sorted(p for p in out.rglob(".*") if "-partial" in p.name)


def check_outputs(out: Path, frames: int) -> list[str]:
    """Names of the final (non-hidden) video outputs in ``out``, each checked to decode to ``frames`` frames."""
    names = []
    for p in sorted(q for q in out.glob("*.mp4") if not q.name.startswith(".")):
        assert decoded_frames(p) == frames, f"{p} is not a complete render"
        names.append(p.name)
    return names


def instant_result(job: Any, out_dir: str) -> dict[str, Any]:
    """A task that renders nothing and returns at once (backend bookkeeping tests)."""
    return {"frames": 1, "seconds": 0.0, "audio_seconds": 0.0}
