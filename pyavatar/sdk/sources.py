"""Live audio inputs stamped on the runtime clock.

The live pipeline needs chunks whose timestamps are clock times (the capture
times). A microphone (:class:`~pyavatar.audio.mic.MicSource`) already stamps
that way; :func:`paced` plays any finite source in real time as if it were a
microphone, and :class:`LiveAudio` stamps audio an application pushes as it
arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np

from pyavatar.audio.sources import to_mono
from pyavatar.packets import NS_PER_S, AudioChunk
from pyavatar.runtime.clock import Clock, MonotonicClock
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed


def paced(
    chunks: Iterable[AudioChunk], clock: Clock | None = None, *, stop: threading.Event | None = None
) -> Iterator[AudioChunk]:
    """``chunks`` released in real time, each once its last sample would have been captured, re-stamped on ``clock``.

    Stops early when ``stop`` is set.
    """
    clock = clock or MonotonicClock()
    t0: int | None = None
    first: int | None = None
    for chunk in chunks:
        if t0 is None or first is None:
            t0, first = clock.now_ns(), chunk.pts_ns
        start = t0 + chunk.pts_ns - first
        if not clock.sleep_until(start + (chunk.end_pts_ns - chunk.pts_ns), stop):
            return
        yield AudioChunk(start, chunk.sample_rate, chunk.samples)


class LiveAudio:
    """Audio pushed by an application in real time (any thread), stamped with its arrival time.

    A pushed block is taken to end when :meth:`push` is called; blocks within
    ``tolerance_s`` of contiguous keep contiguous timestamps, later ones start a
    new run (the motion stage restarts at the gap). ``push`` never blocks: beyond
    ``max_seconds`` of waiting audio the oldest block is dropped (counted in
    :attr:`dropped`).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        clock: Clock | None = None,
        max_seconds: float = 2.0,
        tolerance_s: float = 0.05,
        block_ms: float = 20.0,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.clock = clock or MonotonicClock()
        self._tol = int(tolerance_s * NS_PER_S)
        self._queue: BoundedQueue[AudioChunk] = BoundedQueue(
            max(2, int(max_seconds * 1000 / block_ms)), Policy.DROP_OLDEST, "live audio"
        )
        self._next_pts: int | None = None
        self._lock = threading.Lock()

    @property
    def dropped(self) -> int:
        """Blocks dropped because the pipeline did not keep up."""
        return self._queue.dropped

    def push(self, samples: np.ndarray, sample_rate: int | None = None) -> None:
        """Queue (N,) or (N, C) samples at :attr:`sample_rate` (other rates raise ValueError)."""
        if self._queue.closed:
            raise RuntimeError("live audio: push() after end()")
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ValueError(f"live audio is {self.sample_rate} Hz, got a block at {sample_rate} Hz")
        mono = np.clip(np.nan_to_num(to_mono(samples, None, "pushed audio")), -1.0, 1.0).astype(np.float32)
        if not len(mono):
            return
        with self._lock:
            dur = round(len(mono) * NS_PER_S / self.sample_rate)
            start = self.clock.now_ns() - dur
            if self._next_pts is not None and abs(start - self._next_pts) <= self._tol:
                start = self._next_pts
            elif self._next_pts is not None and start < self._next_pts:
                start = self._next_pts  # pushed faster than real time: stay contiguous
            chunk = AudioChunk(start, self.sample_rate, mono)
            self._next_pts = chunk.end_pts_ns
            self._queue.put(chunk)

    def end(self) -> None:
        """No more audio: iteration ends after the queued blocks."""
        self._queue.close()

    def __iter__(self) -> Iterator[AudioChunk]:
        while True:
            try:
                yield self._queue.get()
            except QueueClosed:
                return
