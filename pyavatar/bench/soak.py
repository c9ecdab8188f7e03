"""``pyavatar bench soak``: the live pipeline for N minutes: memory growth, latency per minute, drops, drift.

A looped known signal (silence and speech, as in ``bench live``) is played in
real time in 10 ms blocks into a live session with a null virtual camera, while
the emotion changes every few seconds. Every minute the run prints and records
the resident memory, latency p50/p95 of the new frames shown in that minute,
drops and repeats. At the end:

- ``rss_slope_mb_per_hour``: least-squares slope of the resident memory sampled
  every 5 s, after a warm-up (the first 2 minutes, or 20 % of a shorter run);
- ``p50_ms``/``p95_ms``: latency of the new frames shown after the warm-up
  (``p95_ms_with_warmup`` includes it, ``p95_ms_worst_minute`` is the worst minute after it);
- ``drift_frames``: the spread (max − min) of the per-minute median latency after
  the warm-up, in frame periods. Audio and video stay in sync when the
  capture→display delay stays constant; a growing delay is A/V drift;
- ``exceptions``: failures re-raised by ``stop()``, uncaught thread exceptions
  and error log records during the run.

Goals (issue #10): RSS growth ≤ 10 MB/hour, p95 ≤ 100 ms, drift < 1 frame, 0 exceptions.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk

DESCRIPTION = "live pipeline for N minutes: RSS slope (MB/h), latency p50/p95 per minute, drops, A/V drift"
RSS_EVERY_S = 5.0
EMOTIONS = ("happy", "neutral", "sad", "surprised", "relaxed", "angry")
GOALS = {"rss_slope_mb_per_hour": 10.0, "p95_ms": 100.0, "drift_frames": 1.0, "exceptions": 0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the soak suite's options."""
    p.add_argument("--minutes", type=float, default=60.0, help="length of the run (default: 60)")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default: 30)")
    p.add_argument("--renderer", default="classical", help="registered renderer name (default: classical)")
    p.add_argument("--size", type=int, default=512, help="portrait side in pixels (default: 512)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and the C++ kernels (default: 2)")


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def open_handles() -> int:
    """Open file descriptors of this process (Linux; 0 elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def looped_signal(cycle: np.ndarray, rate: int, seconds: float, block_ms: float = 10.0) -> Iterator[AudioChunk]:
    """``seconds`` of ``cycle`` repeated, in contiguous ``block_ms`` chunks stamped from 0."""
    block = round(rate * block_ms / 1000)
    total = round(seconds * rate)
    pos = 0
    while pos < total:
        n = min(block, total - pos)
        idx = np.arange(pos, pos + n) % len(cycle)
        yield AudioChunk(pos * NS_PER_S // rate, rate, cycle[idx])
        pos += n


def slope_per_hour(t_s: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` against ``t_s`` seconds, per hour (0 with fewer than 2 points)."""
    if len(t_s) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(t_s), np.asarray(values), 1)[0] * 3600.0)


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def run(args: argparse.Namespace) -> int:
    """Run the live pipeline for the given minutes; report latency, drops and memory over time."""
    from PIL import Image

    from pyavatar.assets import DEMO_PORTRAIT
    from pyavatar.bench.live import SILENCE_S, SPEECH_S, _NullCamera, known_signal
    from pyavatar.bench.timing import set_threads, write_json
    from pyavatar.outputs.virtualcam import VirtualCamSink
    from pyavatar.sdk import Avatar, paced

    if args.minutes <= 0:
        raise SystemExit(f"bench soak: --minutes must be positive, got {args.minutes}")
    try:
        import pyvirtualcam
    except ImportError as e:
        raise SystemExit(f"bench soak drives a virtual webcam: pip install 'pyavatar[webcam]' ({e})") from e

    set_threads(args.threads)
    seconds = args.minutes * 60.0
    image = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB").resize((args.size, args.size), Image.BICUBIC))
    avatar = Avatar.from_image(image, renderer=args.renderer)
    pyvirtualcam.register_backend("null", _NullCamera)
    session = avatar.session(fps=args.fps, outputs=[VirtualCamSink(backend="null")])
    period_ms = 1000.0 / args.fps

    lock = threading.Lock()
    minute_lat: list[Any] = [[]]  # per minute: a list while it fills, then a float32 array
    minute_rep = [0]
    t_start = [0]

    def on_frame(f: Any) -> None:
        with lock:  # the time is taken under the lock: a minute already summarised gets no more frames
            now = time.monotonic_ns()
            m = int((now - t_start[0]) // (60 * NS_PER_S))
            while len(minute_lat) <= m:
                minute_lat.append([])
                minute_rep.append(0)
            if f.repeat:
                minute_rep[m] += 1
            else:
                minute_lat[m].append((now - f.capture_ns) / 1e6)

    session.on_frame(on_frame)
    errors = _ErrorCounter()
    logging.getLogger().addHandler(errors)
    thread_errors: list[str] = []
    old_hook = threading.excepthook

    def hook(a: threading.ExceptHookArgs) -> None:
        thread_errors.append(f"{a.thread.name if a.thread else '?'}: {a.exc_type.__name__}: {a.exc_value}")
        old_hook(a)

    threading.excepthook = hook
    one, rate, _ = known_signal(SILENCE_S + SPEECH_S)  # one cycle of silence + speech
    print(
        f"bench soak: {avatar.renderer.name} renderer {args.size}x{args.size}, {args.fps:g} fps, "
        f"{args.threads} threads, {args.minutes:g} min",
        flush=True,
    )
    rss_t: list[float] = []
    rss_v: list[float] = []
    minutes_out: list[dict[str, Any]] = []
    t_start[0] = time.monotonic_ns()
    session.start(paced(looped_signal(one, rate, seconds)))
    drops_before = [0]

    def minute_row(m: int) -> dict[str, Any]:
        drops = session.stats()["drops"]
        with lock:  # a finished minute is kept as float32 (the bench's own memory: ~0.4 MB/hour at 30 fps)
            lat = np.asarray(minute_lat[m] if m < len(minute_lat) else [], np.float32)
            if m < len(minute_lat):
                minute_lat[m] = lat
            rep = minute_rep[m] if m < len(minute_rep) else 0
        row = {
            "minute": m + 1,
            "rss_mb": round(rss_mb(), 1),
            "handles": open_handles(),
            "threads": threading.active_count(),
            "frames": len(lat),
            "repeats": rep,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 2) if len(lat) else None,
            "drops": drops - drops_before[0],
        }
        drops_before[0] = drops
        print(
            f"min {row['minute']:3d}  rss {row['rss_mb']:8.1f} MB  p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms  "
            f"drops {row['drops']}  repeats {rep}  handles {row['handles']}",
            flush=True,
        )
        return row

    next_rss = next_minute = 0.0
    emotion_i = 0
    stop_error = ""
    try:
        while not session.wait(0.5):
            t = (time.monotonic_ns() - t_start[0]) / 1e9
            if t >= next_rss:
                rss_t.append(t)
                rss_v.append(rss_mb())
                next_rss += RSS_EVERY_S
            if int(t // 7) != emotion_i:
                emotion_i = int(t // 7)
                session.set_emotion(EMOTIONS[emotion_i % len(EMOTIONS)], 0.7)
            if t >= next_minute + 60.0:
                minutes_out.append(minute_row(int(next_minute // 60)))
                next_minute += 60.0
    finally:
        stats = session.stats()
        with lock:
            last = len(minute_lat)
        minutes_out.extend(
            minute_row(m)
            for m in range(len(minutes_out), last)
            if len(minute_lat[m]) >= min(10.0, seconds / 2) * args.fps
        )  # no short tail
        try:
            session.stop()
        except Exception as e:  # counted: a soak run must end without one
            stop_error = f"{type(e).__name__}: {e}"
        threading.excepthook = old_hook
        logging.getLogger().removeHandler(errors)

    warm = min(120.0, 0.2 * seconds)
    kept = [(t, v) for t, v in zip(rss_t, rss_v, strict=True) if t >= warm]
    slope = slope_per_hour([t for t, _ in kept], [v for _, v in kept])
    first = min(int(np.ceil(warm / 60.0)), max(len(minute_lat) - 1, 0))  # first minute after the warm-up
    settled = [r for r in minutes_out if r["minute"] - 1 >= first and r["p50_ms"] is not None]
    medians = [r["p50_ms"] for r in settled]
    drift = (max(medians) - min(medians)) / period_ms if medians else 0.0
    all_lat = np.concatenate([np.asarray(lat, np.float32) for lat in minute_lat])
    settled_lat = np.concatenate([np.asarray(lat, np.float32) for lat in minute_lat[first:]] or [all_lat[:0]])
    exceptions = thread_errors + errors.records + ([stop_error] if stop_error else [])
    result = {
        "suite": "soak",
        "minutes": args.minutes,
        "rss_slope_mb_per_hour": round(slope, 2),
        "rss_mb": {
            "start": round(rss_v[0], 1) if rss_v else None,
            "end": round(rss_v[-1], 1) if rss_v else None,
            "max": round(max(rss_v), 1) if rss_v else None,
            "warmup_s": warm,
        },
        "p50_ms": round(float(np.percentile(settled_lat, 50)), 2) if len(settled_lat) else None,
        "p95_ms": round(float(np.percentile(settled_lat, 95)), 2) if len(settled_lat) else None,
        "p95_ms_with_warmup": round(float(np.percentile(all_lat, 95)), 2) if len(all_lat) else None,
        "p95_ms_worst_minute": max((r["p95_ms"] for r in settled), default=None),
        "drops": stats["drops"],
        "repeats": stats["repeats"],
        "frames_out": stats["frames_out"],
        "drift_frames": round(drift, 3),
        "exceptions": len(exceptions),
        "exception_messages": exceptions[:20],
        "per_minute": minutes_out,
        "goals": GOALS,
        "config": {
            "renderer": avatar.renderer.name,
            "size": args.size,
            "fps": args.fps,
            "threads": args.threads,
            "audio_block_ms": 10.0,
            "emotion_change_s": 7,
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "command": f"pyavatar bench soak --minutes {args.minutes:g} --fps {args.fps:g} --renderer {args.renderer} "
        f"--size {args.size} --threads {args.threads}",
    }
    print(
        f"soak {args.minutes:g} min: RSS slope {slope:+.2f} MB/h (goal ≤ {GOALS['rss_slope_mb_per_hour']:g}) | "
        f"p95 {result['p95_ms']} ms (goal ≤ {GOALS['p95_ms']:g}), worst minute {result['p95_ms_worst_minute']} | "
        f"drift {drift:.3f} frames (goal < 1) | drops {result['drops']} repeats {result['repeats']} | "
        f"exceptions {len(exceptions)}",
        flush=True,
    )
    for msg in exceptions[:5]:
        print(f"  exception: {msg}")
    write_json(args.json, result)
    return 0 if not exceptions else 1
