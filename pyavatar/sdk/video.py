"""A frame clock for live sessions whose motion needs no audio (the ``video`` source on a camera)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk
from pyavatar.runtime.clock import Clock, MonotonicClock
from pyavatar.sdk.sources import paced


class SilentClock:
    """Silent audio chunks released in real time on ``clock`` until :meth:`close`.

    The live pipeline is clocked by its audio: this source lets the ``video``
    motion source run from a camera with no microphone (frames are emitted on
    the output grid as the silent audio reaches them).
    """

    def __init__(self, clock: Clock | None = None, *, sample_rate: int = 16_000, chunk_ms: float = 10.0) -> None:
        self.clock = clock or MonotonicClock()
        self.sample_rate = int(sample_rate)
        self._n = max(1, round(sample_rate * chunk_ms / 1000))
        self._stop = threading.Event()

    def _silence(self) -> Iterator[AudioChunk]:
        zeros = np.zeros(self._n, np.float32)
        i = 0
        while not self._stop.is_set():
            yield AudioChunk(i * self._n * NS_PER_S // self.sample_rate, self.sample_rate, zeros)
            i += 1

    def __iter__(self) -> Iterator[AudioChunk]:
        return paced(self._silence(), self.clock, stop=self._stop)

    def close(self) -> None:
        """End the stream."""
        self._stop.set()
