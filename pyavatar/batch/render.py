"""What a worker does with one job: render it to a temporary name beside the output, then rename it into place.

Workers (local processes or Ray workers) keep the last few prepared avatars, so
jobs of the same portrait and renderer prepare it once per worker. Inputs are
read from, and outputs written to, paths every worker can reach: only the job
description and a small result travel between processes.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyavatar.batch.jobs import Job

#: Prepared avatars a worker keeps (most recently used).
CACHED_AVATARS = 4
_PARTIAL = "-partial"
_avatars: OrderedDict[tuple[str, str, str, int], Any] = OrderedDict()

#: A per-job function: ``task(job, out_dir) -> result`` (frames, seconds, audio_seconds).
Task = Callable[[Job, str], dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a job ended: ``result`` on success, else ``error`` (``crashed``: the worker died)."""

    job: Job
    result: dict[str, Any] | None = None
    error: str = ""
    crashed: bool = False


def temp_path(output: Path, pid: int) -> Path:
    """The name a worker writes ``output`` under before renaming it (hidden, per process, same suffix)."""
    return output.with_name(f".{output.stem}-{pid}{_PARTIAL}{output.suffix}")


def remove_partials(output: Path) -> None:
    """Delete what killed workers left of ``output``'s temporary files."""
    if output.parent.is_dir():
        stem = glob.escape(output.stem)
        # the worker's temporary name, and the video sink's own partial file of that name (outputs.video)
        for pattern in (f".{stem}-*{_PARTIAL}{output.suffix}", f"..{stem}-*{_PARTIAL}.partial-*{output.suffix}"):
            for p in output.parent.glob(pattern):
                _remove(p)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _publish(tmp: Path, output: Path) -> None:
    """Rename ``tmp`` to ``output``; an older output folder is moved aside first and deleted after."""
    if tmp.is_dir() and output.exists():
        old = output.with_name(f".{output.name}.{os.getpid()}.old")
        os.replace(output, old)
        os.replace(tmp, output)
        _remove(old)
    else:
        os.replace(tmp, output)


def _avatar(job: Job) -> Any:
    from pyavatar.sdk import Avatar

    key = job.portrait_key
    if key in _avatars:
        _avatars.move_to_end(key)
        return _avatars[key]
    image: Any = job.portrait
    if job.size:
        from PIL import Image, ImageOps

        with Image.open(job.portrait) as im:
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            scale = job.size / max(im.size)
            im = im.resize((max(2, round(im.width * scale)), max(2, round(im.height * scale))), Image.LANCZOS)
            import numpy as np

            image = np.asarray(im)
    options = {"weights": job.weights} if job.weights else {}
    avatar = Avatar.from_image(image, renderer=job.renderer, **options)
    _avatars[key] = avatar
    while len(_avatars) > CACHED_AVATARS:
        _avatars.popitem(last=False)
    return avatar


def render_job(job: Job, out_dir: str) -> dict[str, Any]:
    """Render ``job`` into ``out_dir``: the output appears complete or not at all."""
    from pyavatar.sdk.render import render_file

    output = Path(out_dir) / job.output
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(output, os.getpid())
    _remove(tmp)
    cpu0 = time.process_time()
    avatar = _avatar(job)
    try:
        r = render_file(
            avatar,
            job.audio,
            tmp,
            fps=job.fps,
            crf=job.crf,
            emotion=job.emotion,
            intensity=job.intensity,
            lip_scale=job.lip_scale,
            seed=job.seed,
            motion=job.motion,
            motion_options={"weights": job.motion_weights} if job.motion_weights else None,
        )
        _publish(tmp, output)
    except BaseException:
        _remove(tmp)
        raise
    return {
        "frames": r.frames,
        "seconds": round(r.elapsed_seconds, 3),
        "audio_seconds": round(r.audio_seconds, 3),
        "cpu_seconds": round(time.process_time() - cpu0, 3),
        "size": list(r.size),
    }


def attempt(task: Task, job: Job, out_dir: str) -> Outcome:
    """Run ``task`` on ``job``; an exception becomes the outcome's error (type, message and where it was raised)."""
    try:
        return Outcome(job, result=task(job, out_dir))
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
        return Outcome(job, error=f"{type(e).__name__}: {e}{at}")
