"""The output pacer: one frame per tick at the output rate, newest-wins, never blocking capture.

Each rendered frame is due at ``capture_ns + delay`` (a playout delay, like a
jitter buffer). Ticks lie on a fixed grid anchored so that due times fall on
ticks; at each tick the pacer shows the newest frame due by then (older due
frames are dropped and counted) or repeats the previous frame when none is
ready (counted). With the delay adaptive (the default), it follows the
pipeline's measured processing lag: it grows at once when a frame arrives with
less than half the margin to spare and shrinks after ``shrink_after_s`` of
consistently lower lag (by at most half a period per frame). Changing the delay moves the grid with the due times,
so it never drops or repeats a frame by itself; it only lengthens or shortens
one tick interval.
"""

from __future__ import annotations

import threading
from collections import deque

from pyavatar.runtime.frames import VideoFrame
from pyavatar.runtime.metrics import Metrics


class Pacer:
    """Tick scheduling and frame choice (thread-safe; the caller sleeps until :meth:`next_tick_ns`).

    Args:
        fps: output rate.
        metrics: receives drops (stage ``"pacer"``).
        start_ns: time of the first tick.
        delay_ms: fixed playout delay; ``None`` adapts it to the measured lag.
        margin_ms: adaptive delay = largest recent lag + this margin.
        max_delay_ms: upper bound of the adaptive delay.
        shrink_after_s: how long the lag must stay lower before the delay shrinks.
        capacity: frames kept waiting at most (oldest dropped beyond it).
    """

    def __init__(
        self,
        fps: float,
        metrics: Metrics,
        start_ns: int,
        *,
        delay_ms: float | None = None,
        margin_ms: float = 10.0,
        max_delay_ms: float = 500.0,
        shrink_after_s: float = 5.0,
        capacity: int = 120,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.period_ns = 1e9 / self.fps
        self.metrics = metrics
        self.adaptive = delay_ms is None
        self.delay_ns = int((delay_ms or 0.0) * 1e6)
        self._margin = int(margin_ms * 1e6)
        self._max_delay = int(max_delay_ms * 1e6)
        self._lags: deque[int] = deque(maxlen=max(8, round(shrink_after_s * self.fps)))
        self._low_since: int | None = None
        self._shrink_after = int(shrink_after_s * 1e9)
        self._buffer: deque[VideoFrame] = deque()
        self._capacity = capacity
        self._origin = float(start_ns)
        self._k = 0
        self._anchored = False
        self._last: VideoFrame | None = None
        self._resting = False  # _last is the rest frame, not a rendered one
        self._lock = threading.Lock()
        self.ended = False

    def tick_ns(self, k: int) -> int:
        """Time of tick ``k``."""
        return round(self._origin + k * self.period_ns)

    def next_tick_ns(self) -> int:
        """When the next tick is due."""
        with self._lock:
            return self.tick_ns(self._k)

    def due_ns(self, capture_ns: int) -> int:
        """When a frame captured at ``capture_ns`` should be shown."""
        return capture_ns + self.delay_ns

    def _shift(self, new_delay: int) -> None:
        self._origin += new_delay - self.delay_ns
        self.delay_ns = new_delay

    def _adapt(self, lag: int, now_ns: int) -> None:
        self._lags.append(lag)
        want = min(self._max_delay, max(self._lags) + self._margin)
        if lag + self._margin // 2 > self.delay_ns:  # about to miss: grow now
            self._shift(min(self._max_delay, lag + self._margin))
            self._low_since = None
        elif want < self.delay_ns - self._margin // 2 and len(self._lags) == self._lags.maxlen:
            self._low_since = now_ns if self._low_since is None else self._low_since
            if now_ns - self._low_since >= self._shrink_after:  # half a period per frame until it fits
                self._shift(max(want, self.delay_ns - int(self.period_ns / 2)))
        else:
            self._low_since = None

    def offer(self, frame: VideoFrame) -> None:
        """A rendered frame (``ready_ns`` set) is available."""
        with self._lock:
            if frame.capture_ns < 0:
                raise ValueError("Pacer: frames need a capture time (capture_ns >= 0)")
            lag = max(0, frame.ready_ns - frame.capture_ns)
            if self.adaptive:
                if not self._anchored:
                    self.delay_ns = min(self._max_delay, lag + self._margin)
                self._adapt(lag, frame.ready_ns)
            if not self._anchored:  # put the grid on this frame's due time
                self._origin = self.due_ns(frame.capture_ns) - self._k * self.period_ns
                self._anchored = True
            self._buffer.append(frame)
            if len(self._buffer) > self._capacity:
                self._buffer.popleft()
                self.metrics.drop("pacer")
            self.metrics.frame_in(frame.ready_ns)

    def skip_to(self, now_ns: int) -> int:
        """Skip ticks that are already more than one period in the past; returns how many."""
        with self._lock:
            late = int((now_ns - self._origin) // self.period_ns) - self._k
            if late > 0:
                self._k += late
            return max(0, late)

    def tick(self) -> tuple[VideoFrame | None, str]:
        """The frame for the current tick and its kind: ``"new"``, ``"repeat"`` or ``"hold"``.

        ``"hold"``: the rest frame (or nothing) before the first rendered frame arrived.
        """
        with self._lock:
            t = self.tick_ns(self._k)
            self._k += 1
            limit = t + self.period_ns / 2
            chosen = None
            while self._buffer and self.due_ns(self._buffer[0].capture_ns) <= limit:
                if chosen is not None:
                    self.metrics.drop("pacer")
                chosen = self._buffer.popleft()
            if chosen is not None:
                self._last, self._resting = chosen, False
                return chosen, "new"
            if self._last is None or self._resting:
                return self._last, "hold"
            return self._last.repeated(), "repeat"

    def hold(self) -> VideoFrame | None:
        """The frame to show while paused (the last one), without consuming the buffer; advances one tick."""
        with self._lock:
            self._k += 1
            return self._last.repeated() if self._last is not None else None

    def set_rest(self, frame: VideoFrame) -> None:
        """The frame shown before anything was rendered (e.g. the neutral portrait)."""
        with self._lock:
            if self._last is None:
                self._last, self._resting = frame, True

    def clear(self) -> int:
        """Discard waiting frames (a flush); returns how many."""
        with self._lock:
            n = len(self._buffer)
            self._buffer.clear()
            return n

    @property
    def pending(self) -> int:
        """Frames waiting to be shown."""
        with self._lock:
            return len(self._buffer)

    @property
    def anchored(self) -> bool:
        """Whether a frame has arrived (the grid follows due times)."""
        return self._anchored
