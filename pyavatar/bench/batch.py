"""``pyavatar bench batch``: batch throughput of the local pool (1 and 2 workers) and of Ray (2 CPUs), one run.

Renders the same ``--jobs`` short jobs (the classical renderer, DSP motion,
snippets of the bundled demo speech on the demo portrait) three times into fresh
folders: local mode with 1 worker, local mode with 2 workers, and Ray mode on a
local Ray started with ``num_cpus=2``. Each wall time runs from the call of
:func:`~pyavatar.batch.run_batch` to its return, so it includes starting the
worker processes and preparing the portrait in each; ``ray_init_s`` is the
extra time ``ray.init`` took. Reported per mode: jobs per minute, audio seconds
per wall second, the median render time and CPU time per job (``audio_s_per_cpu_s``: audio
rendered per CPU second, what one idle core would sustain), the share of the workers' wall time spent
rendering (``slot_efficiency``; the rest is start-up, preparation and waiting), and for Ray the overhead
against the 2-worker pool (with and without ``ray.init``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DESCRIPTION = "batch rendering throughput: local pool with 1 and 2 workers vs Ray with 2 CPUs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the batch suite's options."""
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--jobs", type=int, default=40, help="jobs per mode (default: 40)")
    p.add_argument("--seconds", type=float, default=2.0, help="audio per job in seconds (default: 2)")
    p.add_argument("--size", type=int, default=256, help="portrait side in pixels (default: 256)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default: 25)")
    p.add_argument("--no-ray", action="store_true", help="skip the Ray mode")


def _inputs(folder: Path, jobs: int, seconds: float, size: int, fps: float) -> Path:
    """The demo portrait, ``seconds``-long speech snippets and a CSV of ``jobs`` jobs cycling through them."""
    import shutil

    import soundfile as sf

    from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH

    shutil.copy(DEMO_PORTRAIT, folder / "portrait.jpg")
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    n = round(seconds * rate)
    snippets = max(1, len(x) // n)
    for i in range(snippets):
        sf.write(folder / f"speech{i}.wav", x[i * n : (i + 1) * n], rate)
    rows = ["portrait,audio,output,renderer,motion,size,fps"]
    rows += [f"portrait.jpg,speech{i % snippets}.wav,job{i:03d}.mp4,classical,dsp,{size},{fps:g}" for i in range(jobs)]
    path = folder / "jobs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _measure(name: str, jobs: list[Any], out: Path, slots: int, **options: Any) -> dict[str, Any]:
    import json

    from pyavatar.batch import run_batch

    load0 = os.getloadavg()[0]
    s = run_batch(jobs, out, progress=False, retries=0, **options)
    if s.failed or s.done != len(jobs):
        raise RuntimeError(f"bench batch {name}: {s.line()} {s.errors}")
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    per_job = [e["seconds"] for e in entries]
    cpu = statistics.median(e["cpu_seconds"] for e in entries)
    row = {
        "mode": name,
        "jobs": s.done,
        "wall_s": round(s.wall_seconds, 2),
        "jobs_per_min": round(60 * s.done / s.wall_seconds, 1),
        "audio_s": round(s.audio_seconds, 1),
        "audio_s_per_wall_s": round(s.audio_per_wall, 2),
        "median_job_s": round(statistics.median(per_job), 3),
        "median_job_cpu_s": round(cpu, 3),
        "audio_s_per_cpu_s": round(s.audio_seconds / s.done / cpu, 2),
        "render_s_sum": round(sum(per_job), 1),
        "slot_efficiency": round(sum(per_job) / (slots * s.wall_seconds), 2),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    print(
        f"{name:<14} {row['wall_s']:7.1f} s  {row['jobs_per_min']:6.1f} jobs/min  "
        f"{row['audio_s_per_wall_s']:5.2f} audio-s/s  median job {row['median_job_s']:.2f} s  "
        f"(load {row['load_before']:.1f} -> {row['load_after']:.1f})",
        flush=True,
    )
    return row


def run(args: argparse.Namespace) -> int:
    """Time the batch modes; print a table and optionally write JSON."""
    from pyavatar.batch import load_jobs
    from pyavatar.bench.timing import write_json

    with tempfile.TemporaryDirectory(prefix="pyavatar-bench-batch-") as tmp:
        root = Path(tmp)
        jobs = load_jobs(_inputs(root, args.jobs, args.seconds, args.size, args.fps))
        print(
            f"bench batch: {len(jobs)} jobs of {args.seconds:g} s, classical renderer, dsp motion, "
            f"{args.size}px, {args.fps:g} fps, {os.cpu_count()} CPUs visible",
            flush=True,
        )
        rows = [
            _measure("local x1", jobs, root / "local1", 1, workers=1),
            _measure("local x2", jobs, root / "local2", 2, workers=2),
        ]
        ray_init_s = None
        if not args.no_ray:
            from pyavatar.batch.ray_backend import import_ray

            ray = import_ray()
            t0 = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_init_s = round(time.perf_counter() - t0, 2)
            try:
                rows.append(_measure("ray 2 CPUs", jobs, root / "ray2", 2, ray="auto"))
            finally:
                ray.shutdown()
    by = {r["mode"]: r for r in rows}
    result: dict[str, Any] = {
        "suite": "batch",
        "modes": rows,
        "speedup_2_workers": round(by["local x1"]["wall_s"] / by["local x2"]["wall_s"], 2),
        "config": {
            "jobs": args.jobs,
            "seconds": args.seconds,
            "size": args.size,
            "fps": args.fps,
            "renderer": "classical",
            "motion": "dsp",
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "command": f"pyavatar bench batch --jobs {args.jobs} --seconds {args.seconds:g} --size {args.size} "
        f"--fps {args.fps:g}" + (" --no-ray" if args.no_ray else ""),
    }
    print(f"2 workers vs 1: {result['speedup_2_workers']:.2f}x")
    if "ray 2 CPUs" in by:
        ray_wall, pool_wall = by["ray 2 CPUs"]["wall_s"], by["local x2"]["wall_s"]
        result["ray"] = {
            "init_s": ray_init_s,
            "overhead_vs_pool": round(ray_wall / pool_wall - 1, 3),
            "overhead_vs_pool_with_init": round((ray_wall + ray_init_s) / pool_wall - 1, 3),
            "overhead_per_job_s": round((ray_wall - pool_wall) / args.jobs, 3),
        }
        print(
            f"ray vs local x2: {100 * result['ray']['overhead_vs_pool']:+.1f} % wall time "
            f"({100 * result['ray']['overhead_vs_pool_with_init']:+.1f} % with ray.init {ray_init_s:.1f} s)"
        )
    write_json(args.json, result)
    return 0
