"""The runtime's clocks: monotonic nanoseconds, and a manual clock for tests.

Every timestamp the runtime compares (capture time, ready time, output time)
comes from one :class:`Clock`, so latency is ``output_ns - capture_ns`` on the
same time base. :class:`MonotonicClock` uses :func:`time.monotonic_ns`, the
clock :class:`~pyavatar.audio.mic.MicSource` stamps captured audio with.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic time source in nanoseconds with an interruptible sleep."""

    def now_ns(self) -> int:
        """The current time."""

    def sleep_until(self, t_ns: int, stop: threading.Event | None = None) -> bool:
        """Sleep until ``t_ns``; return False early when ``stop`` is set."""


class MonotonicClock:
    """Wall time from :func:`time.monotonic_ns`."""

    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int, stop: threading.Event | None = None) -> bool:
        """Sleep until ``t_ns``; False when ``stop`` was set first."""
        delay = (t_ns - time.monotonic_ns()) / 1e9
        if stop is None:
            if delay > 0:
                time.sleep(delay)
            return True
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


class FakeClock:
    """A clock that only moves when told to (tests): ``sleep_until`` jumps to the target time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._t = int(start_ns)
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        """The current fake time in nanoseconds."""
        with self._lock:
            return self._t

    def advance(self, dt_ns: int) -> int:
        """Move forward by ``dt_ns`` and return the new time."""
        if dt_ns < 0:
            raise ValueError(f"FakeClock cannot go backwards (dt_ns={dt_ns})")
        with self._lock:
            self._t += int(dt_ns)
            return self._t

    def sleep_until(self, t_ns: int, stop: threading.Event | None = None) -> bool:
        """Wait until the fake time reaches ``t_ns``; False when ``stop`` was set first."""
        if stop is not None and stop.is_set():
            return False
        with self._lock:
            self._t = max(self._t, int(t_ns))
        return True
