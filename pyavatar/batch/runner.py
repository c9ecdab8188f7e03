"""Run a batch: skip what is done, hand the rest to the local pool or Ray, retry, record, stop cleanly.

The loop is the same for both backends: jobs wait in :class:`PendingJobs`, the
backend takes as many as it has workers, and every outcome is recorded in the
manifest as it arrives (failures after ``retries`` further attempts). Ctrl-C
once stops handing out jobs and waits for the running ones to be recorded;
Ctrl-C twice kills them (their temporary files are removed; they run again next
time). Either way the manifest only holds complete lines about complete outputs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyavatar.batch.jobs import Job
from pyavatar.batch.manifest import MANIFEST, Manifest, OutDirLock
from pyavatar.batch.params import Fingerprints, output_bytes, output_path
from pyavatar.batch.pool import LocalPool, PendingJobs
from pyavatar.batch.progress import BatchProgress
from pyavatar.batch.render import Outcome, Task, remove_partials, render_job

POLL_S = 0.2


@dataclass
class BatchSummary:
    """What a run did."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    wall_seconds: float = 0.0
    audio_seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    manifest: Path | None = None

    @property
    def audio_per_wall(self) -> float:
        """Audio seconds rendered per wall second."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def line(self) -> str:
        """One line for people."""
        state = " (interrupted)" if self.interrupted else ""
        return (
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped (already done){state} in "
            f"{self.wall_seconds:.1f} s; {self.audio_seconds:.1f} s of audio = {self.audio_per_wall:.2f} "
            f"audio-s per wall-s; manifest {self.manifest}"
        )


class _Interrupts:
    """Counts Ctrl-C presses during the run instead of raising at an arbitrary point."""

    def __init__(self) -> None:
        self.count = 0
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _backend(out_dir: Path, task: Task, workers: int | None, ray: str | None, gpus_per_job: float) -> Any:
    if ray is not None:
        from pyavatar.batch.ray_backend import RayBackend

        return RayBackend(ray, task, str(out_dir), workers=workers, gpus_per_job=gpus_per_job)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = workers or cores
    return LocalPool(n, task, str(out_dir), threads=max(1, cores // n))


def run_batch(
    jobs: Sequence[Job],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    ray: str | None = None,
    retries: int = 2,
    progress: bool = True,
    gpus_per_job: float = 1.0,
    task: Task = render_job,
) -> BatchSummary:
    """Render ``jobs`` into ``out_dir`` (created), resuming from its manifest.

    Args:
        jobs: validated jobs, their outputs relative to ``out_dir``.
        out_dir: the output folder; its manifest records finished jobs, so a rerun resumes.
        workers: local worker processes (default: the cores), or Ray tasks in flight (default: the cluster's CPUs).
        ray: None for local mode, ``"auto"`` or a cluster address for Ray mode.
        retries: further attempts after a job fails or its worker dies.
        gpus_per_job: GPUs a neural job requests in Ray mode.
        task: what runs per job (default: render it).
        progress: show a progress bar.
    """
    if retries < 0:
        raise ValueError(f"--retries must be >= 0, got {retries}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary(manifest=out / MANIFEST)
    t0 = time.perf_counter()
    with OutDirLock(out), _Interrupts() as interrupts:
        manifest = Manifest(out / MANIFEST)
        try:
            _run(
                jobs,
                out,
                manifest,
                summary,
                interrupts,
                workers=workers,
                ray=ray,
                retries=retries,
                progress=progress,
                gpus_per_job=gpus_per_job,
                task=task,
            )
        finally:
            manifest.close()
            summary.wall_seconds = time.perf_counter() - t0
    return summary


def _run(
    jobs: Sequence[Job],
    out: Path,
    manifest: Manifest,
    summary: BatchSummary,
    interrupts: _Interrupts,
    *,
    workers: int | None,
    ray: str | None,
    retries: int,
    progress: bool,
    gpus_per_job: float,
    task: Task,
) -> None:
    prints = Fingerprints()
    hashes = {job.id: prints.job_hash(job) for job in jobs}
    todo = []
    for job in jobs:
        entry = manifest.entries.get(job.id)
        if (
            entry
            and entry.get("status") == "done"
            and entry.get("params") == hashes[job.id]
            and output_bytes(output_path(out, job)) == entry.get("bytes")
        ):
            summary.skipped += 1
        else:
            remove_partials(output_path(out, job))
            todo.append(job)
    if not todo:
        return
    pending = PendingJobs(todo)
    attempts: Counter[str] = Counter()
    backend = _backend(out, task, workers, ray, gpus_per_job)
    bar = BatchProgress(len(todo), sum(j.audio_seconds for j in todo), enabled=progress)
    seen = 0

    def record(outcome: Outcome) -> None:
        job = outcome.job
        attempts[job.id] += 1
        entry: dict[str, Any] = {
            "job": job.id,
            "output": job.output,
            "attempts": attempts[job.id],
            "params": hashes[job.id],
        }
        if outcome.result is not None:
            entry.update(status="done", error=None, bytes=output_bytes(output_path(out, job)), **outcome.result)
            manifest.append(entry)
            summary.done += 1
            summary.audio_seconds += float(outcome.result.get("audio_seconds", job.audio_seconds))
            bar.finished(job.audio_seconds, True)
            return
        what = "crashed" if outcome.crashed else "failed"
        if attempts[job.id] <= retries and interrupts.count == 0:
            bar.write(f"job {job.id} {what} (attempt {attempts[job.id]} of {retries + 1}): {outcome.error}; retrying")
            pending.add(job)
            return
        entry.update(status="failed", error=outcome.error, frames=0, seconds=None)
        manifest.append(entry)
        summary.failed += 1
        summary.errors[job.id] = outcome.error
        bar.write(f"job {job.id} {what} after {attempts[job.id]} attempt(s): {outcome.error}")
        bar.finished(job.audio_seconds, False)

    try:
        while (pending or backend.running) and interrupts.count < 2:
            if interrupts.count > seen:
                seen = interrupts.count
                bar.write(
                    f"stopping: waiting for {len(backend.running)} running job(s) to finish "
                    "(Ctrl-C again to abandon them)"
                )
            if interrupts.count == 0:
                backend.dispatch(pending)
            elif not backend.running:
                break
            for outcome in backend.poll(POLL_S):
                record(outcome)
        if interrupts.count >= 2:
            finished, abandoned = backend.abandon()
            for outcome in finished:  # ended before they could be stopped: their outputs are published
                record(outcome)
            for job in abandoned:
                remove_partials(output_path(out, job))
            bar.write("stopped: running jobs abandoned; they run again next time")
    finally:
        summary.interrupted = interrupts.count > 0
        bar.close()
        backend.close()
