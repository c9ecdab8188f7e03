"""Runtime metrics: capture→output latency, frame rates, drops, repeats and per-stage time.

All counters are thread-safe. :meth:`Metrics.snapshot` returns plain numbers
(JSON-ready); the flat keys ``p50_ms``, ``p95_ms``, ``max_ms``, ``drops``,
``repeats``, ``fps_in`` and ``fps_out`` are the ones the live benchmark records.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pyavatar.runtime.clock import Clock, MonotonicClock


class Window:
    """The last ``size`` values of a series, with percentiles; ``count`` and ``max`` cover the whole series."""

    def __init__(self, size: int = 20_000) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self.count = 0
        self.max = 0.0
        self.total = 0.0

    def add(self, value: float) -> None:
        """Record one value."""
        self._values.append(value)
        self.count += 1
        self.total += value
        self.max = max(self.max, value) if self.count > 1 else value

    def percentile(self, q: float) -> float:
        """``q``-th percentile (0..100) of the kept values (0 when empty)."""
        return float(np.percentile(np.fromiter(self._values, float), q)) if self._values else 0.0

    def summary(self) -> dict[str, float]:
        """count, mean, p50, p95 and max."""
        return {
            "count": self.count,
            "mean": self.total / self.count if self.count else 0.0,
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "max": self.max,
        }


class RateMeter:
    """Events per second over the last ``span_s`` seconds (and over the whole run)."""

    def __init__(self, clock: Clock, span_s: float = 2.0) -> None:
        self._clock = clock
        self._span = int(span_s * 1e9)
        self._times: deque[int] = deque()
        self.count = 0
        self.first_ns: int | None = None

    def tick(self, t_ns: int | None = None) -> None:
        """Count one event at ``t_ns`` (default: now)."""
        t = self._clock.now_ns() if t_ns is None else t_ns
        if self.first_ns is None:
            self.first_ns = t
        self.count += 1
        self._times.append(t)
        while self._times and self._times[0] < t - self._span:
            self._times.popleft()

    def recent(self) -> float:
        """Rate over the recent span (0 with fewer than two events)."""
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) * 1e9 / max(1, self._times[-1] - self._times[0])

    def overall(self) -> float:
        """Rate since the first event."""
        if self.first_ns is None or self.count < 2:
            return 0.0
        return (self.count - 1) * 1e9 / max(1, self._times[-1] - self.first_ns)


class Metrics:
    """Counters and timings of one pipeline run."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.start_ns = self.clock.now_ns()
            self.latency = Window()
            self.stages: dict[str, Window] = {}
            self.fps_in = RateMeter(self.clock)
            self.fps_out = RateMeter(self.clock)
            self.counters: dict[str, int] = {}
            self.drops: dict[str, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        if n:
            with self._lock:
                self.counters[name] = self.counters.get(name, 0) + n

    def drop(self, where: str, n: int = 1) -> None:
        """Record ``n`` frames dropped at stage ``where``."""
        if n:
            with self._lock:
                self.drops[where] = self.drops.get(where, 0) + n

    def stage_time(self, stage: str, seconds: float) -> None:
        """Record one processing time of ``stage``."""
        with self._lock:
            self.stages.setdefault(stage, Window(4096)).add(seconds * 1e3)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Time the ``with`` body as one run of ``stage``."""
        t0 = self.clock.now_ns()
        try:
            yield
        finally:
            self.stage_time(stage, (self.clock.now_ns() - t0) / 1e9)

    def frame_in(self, t_ns: int | None = None) -> None:
        """A rendered frame reached the output stage."""
        with self._lock:
            self.fps_in.tick(t_ns)

    def frame_out(self, t_ns: int, capture_ns: int, kind: str) -> None:
        """The output stage emitted a frame at ``t_ns``.

        ``kind``: ``"new"`` (its latency is recorded), ``"repeat"`` (the previous
        frame again because none was ready; counted in ``repeats``) or ``"hold"``
        (the rest frame before the first rendered one, or the held frame while
        paused; counted in ``held``).
        """
        with self._lock:
            self.fps_out.tick(t_ns)
            if kind == "new":
                if capture_ns >= 0:
                    self.latency.add((t_ns - capture_ns) / 1e6)
            elif kind in ("repeat", "hold"):
                key = "repeats" if kind == "repeat" else "held"
                self.counters[key] = self.counters.get(key, 0) + 1
            else:
                raise ValueError(f"frame_out: kind must be 'new', 'repeat' or 'hold', got {kind!r}")

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain numbers."""
        with self._lock:
            lat = self.latency.summary()
            drops = sum(self.drops.values())
            return {
                "uptime_s": (self.clock.now_ns() - self.start_ns) / 1e9,
                "p50_ms": lat["p50"],
                "p95_ms": lat["p95"],
                "max_ms": lat["max"],
                "latency_frames": lat["count"],
                "fps_in": self.fps_in.recent(),
                "fps_out": self.fps_out.recent(),
                "fps_in_overall": self.fps_in.overall(),
                "fps_out_overall": self.fps_out.overall(),
                "frames_in": self.fps_in.count,
                "frames_out": self.fps_out.count,
                "drops": drops,
                "repeats": self.counters.get("repeats", 0),
                "drops_by_stage": dict(self.drops),
                "counters": dict(self.counters),
                "stages_ms": {k: v.summary() for k, v in self.stages.items()},
            }
