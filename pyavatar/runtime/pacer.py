"""The output pacer: one frame per tick at the output rate, newest-wins, never blocking capture.

Each rendered frame is due at ``capture_ns + delay`` (a playout delay, like a
jitter buffer). Ticks lie on a fixed grid anchored so that due times fall on
ticks; at each tick the pacer shows the newest frame due by then (older due
frames are dropped and counted) or repeats the previous frame when none is
ready (counted). With the delay adaptive (the default), :class:`AdaptiveDelay`
follows a robust high percentile of the pipeline's recent processing lag (not
its maximum; a frame's lag is counted to the tick it is shown on, so frames
captured off the output grid, as a camera's are, are covered too): one slow
frame is absorbed (it may be shown late once) instead of raising the delay for
good, a lasting rise raises it at once, and it comes back down after a
transient. Changing the delay moves the grid with the due times, so it never
drops or repeats a frame by itself; it only lengthens or shortens
one tick interval.
"""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np

from pyavatar.runtime.frames import VideoFrame
from pyavatar.runtime.metrics import Metrics

#: Default headroom of the adaptive delay over its lag level.
MARGIN_MS = 15.0
#: Default share of recent (weighted) lags the adaptive delay covers. At 0.99 a lone late frame in a full
#: window (5 s) is still absorbed; a stall of a few frames raises the delay until it ages out, so a source
#: with occasional slow windows (a diffusion model) loses no frame. Measured in benchmarks/LIVE.md.
QUANTILE = 0.99


class AdaptiveDelay:
    """The playout delay policy: a decaying high percentile of recent lag plus a margin.

    The *level* is the ``quantile`` of the lags seen in the last ``window_s``,
    each weighted by ``0.5 ** (age / half_life_s)``: a lone slow frame (its
    weight alone under ``1 - quantile`` of the total) does not move it, a
    run of slow frames does, and it falls again as they age. The delay rises
    to ``level + margin`` as soon as the level is within half a margin of it
    (small wobbles of the level do not move the output grid); it falls only when
    ``level + margin`` has stayed more than half a margin below it for
    ``shrink_after_s`` (hysteresis: no oscillation on a steady lag), then by at
    most ``step_ms`` per frame down to ``level + margin``. In the stream's first
    ``settle_s`` the fall needs no wait: the first frames carry one-time costs
    (a tracker's or a model's first call), and the first lag alone sets the
    delay; holding that for ``shrink_after_s`` would put its excess on every
    frame of the first seconds.

    Args:
        fps: output rate (sizes the window).
        margin_ms: headroom over the level.
        max_delay_ms: upper bound.
        quantile: the share of recent (weighted) lags the delay covers.
        window_s: lags older than this are forgotten.
        half_life_s: age at which a lag weighs half.
        shrink_after_s: how long the target must stay lower before the delay falls (transients that recur
            sooner keep it up rather than moving the output grid down and up again).
        step_ms: largest fall per frame (under half a period: never a skipped tick).
        settle_s: how long after the first lag the delay falls without waiting ``shrink_after_s``.
    """

    def __init__(
        self,
        fps: float,
        *,
        margin_ms: float = MARGIN_MS,
        max_delay_ms: float = 500.0,
        quantile: float = QUANTILE,
        window_s: float = 5.0,
        half_life_s: float = 2.0,
        shrink_after_s: float = 2.5,
        step_ms: float = 8.0,
        settle_s: float = 1.5,
    ) -> None:
        if not 0.5 <= quantile < 1.0:
            raise ValueError(f"AdaptiveDelay: quantile must be in [0.5, 1), got {quantile}")
        if settle_s < 0:
            raise ValueError(f"AdaptiveDelay: settle_s must be >= 0, got {settle_s}")
        if window_s <= 0 or half_life_s <= 0:
            raise ValueError(f"AdaptiveDelay: window_s and half_life_s must be positive, got {window_s}, {half_life_s}")
        self.quantile = float(quantile)
        self.margin_ns = int(margin_ms * 1e6)
        self.max_ns = int(max_delay_ms * 1e6)
        self.window_ns = int(window_s * 1e9)
        self.half_life_ns = half_life_s * 1e9
        self.shrink_after_ns = int(shrink_after_s * 1e9)
        self.step_ns = int(min(step_ms * 1e6, 0.5e9 / fps))
        self.settle_ns = int(settle_s * 1e9)
        self._first_ns: int | None = None
        self._lags: deque[tuple[int, int]] = deque(maxlen=max(8, round(window_s * fps * 2)))
        self._low_since: int | None = None
        self._falling = False

    def level_ns(self, now_ns: int) -> int:
        """The decaying ``quantile`` of the lags in the window (0 when none)."""
        while self._lags and now_ns - self._lags[0][0] > self.window_ns:
            self._lags.popleft()
        if not self._lags:
            return 0
        t, lag = np.array(self._lags, dtype=np.float64).T
        order = np.argsort(lag, kind="stable")
        w = np.exp2(-(now_ns - t[order]) / self.half_life_ns)
        cum = np.cumsum(w)
        return int(lag[order][np.searchsorted(cum, self.quantile * cum[-1])])

    def update(self, lag_ns: int, now_ns: int, delay_ns: int) -> int:
        """Record one frame's lag (it became ready at ``now_ns``); returns the new delay."""
        self._lags.append((now_ns, max(0, lag_ns)))
        self._first_ns = now_ns if self._first_ns is None else self._first_ns
        target = min(self.max_ns, self.level_ns(now_ns) + self.margin_ns)
        if target >= delay_ns:
            self._low_since, self._falling = None, False
            # rise once the level has eaten half the margin (small wobbles of the level do not move the grid)
            return target if target > delay_ns + self.margin_ns // 2 or delay_ns == 0 else delay_ns
        if not self._falling:
            if target >= delay_ns - self.margin_ns // 2:  # within the hysteresis band: stay
                self._low_since = None
                return delay_ns
            self._low_since = now_ns if self._low_since is None else self._low_since
            settling = now_ns - self._first_ns < self.settle_ns
            self._falling = settling or now_ns - self._low_since >= self.shrink_after_ns
            if not self._falling:
                return delay_ns
        return max(target, delay_ns - self.step_ns)


class Pacer:
    """Tick scheduling and frame choice (thread-safe; the caller sleeps until :meth:`next_tick_ns`).

    Args:
        fps: output rate.
        metrics: receives drops (stage ``"pacer"``).
        start_ns: time of the first tick.
        delay_ms: fixed playout delay; ``None`` adapts it to the measured lag.
        policy: the adaptive delay policy (default :class:`AdaptiveDelay` at ``fps``).
        capacity: frames kept waiting at most (oldest dropped beyond it).
    """

    def __init__(
        self,
        fps: float,
        metrics: Metrics,
        start_ns: int,
        *,
        delay_ms: float | None = None,
        policy: AdaptiveDelay | None = None,
        capacity: int = 120,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.period_ns = 1e9 / self.fps
        self.metrics = metrics
        self.adaptive = delay_ms is None
        self.delay_ns = int((delay_ms or 0.0) * 1e6)
        self.policy = (policy or AdaptiveDelay(self.fps)) if self.adaptive else None
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

    def _grid_capture_ns(self, capture_ns: int) -> float:
        """The capture time of the tick a frame captured at ``capture_ns`` is shown on, minus the delay.

        A frame is shown on the first tick within half a period of its due time, so it must be ready by
        then: its lag that the delay has to cover is counted from this grid point, not from its own
        capture time (they differ by up to half a period when captures are off the output grid, as a
        camera's are). It does not change when the delay does (the grid moves with it).
        """
        k = math.ceil((capture_ns + self.delay_ns - self._origin - self.period_ns / 2) / self.period_ns)
        return self._origin + k * self.period_ns - self.delay_ns

    def _shift(self, new_delay: int) -> None:
        self._origin += new_delay - self.delay_ns
        self.delay_ns = new_delay

    def offer(self, frame: VideoFrame) -> None:
        """A rendered frame (``ready_ns`` set) is available."""
        with self._lock:
            if frame.capture_ns < 0:
                raise ValueError("Pacer: frames need a capture time (capture_ns >= 0)")
            grid = self._grid_capture_ns(frame.capture_ns) if self._anchored else frame.capture_ns
            lag = max(0, round(frame.ready_ns - grid))
            if self.policy is not None:
                self._shift(self.policy.update(lag, frame.ready_ns, self.delay_ns if self._anchored else 0))
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
