"""Renderer swaps requested by name (control messages): prepared off the caller's thread, newest wins.

Preparing a renderer (face finding, caches, weights) takes from a fraction of a
second to several seconds, so a control thread must never do it. A
:class:`RendererSwapper` keeps one pending request; a newer request replaces
it (counted as superseded), one preparation runs at a time in its own thread,
and preparations start at most once per ``min_interval_s`` (requests in
between coalesce). A preparation that a newer request overtook is discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Default shortest time between the starts of two preparations.
MIN_SWAP_INTERVAL_S = 1.0


class RendererSwapper:
    """Prepares renderers by name with ``prepare(name)`` and hands each result to ``apply(prepared)``.

    Args:
        prepare: makes and prepares a renderer (runs in the swapper's thread).
        apply: installs it (e.g. sends a swap event to the pipeline; may raise ValueError to reject it).
        min_interval_s: rate limit between preparations.
    """

    def __init__(
        self,
        prepare: Callable[[str], Any],
        apply: Callable[[Any], None],
        *,
        min_interval_s: float = MIN_SWAP_INTERVAL_S,
    ) -> None:
        if not min_interval_s >= 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        self._prepare = prepare
        self._apply = apply
        self.min_interval_s = float(min_interval_s)
        self._cond = threading.Condition()
        self._pending: str | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_start = -float("inf")
        self.requested = 0
        self.superseded = 0
        self.applied = 0
        self.failed = 0
        self.last_error = ""

    def stats(self) -> dict[str, Any]:
        """Counters: requested, superseded, applied, failed, last_error, pending."""
        with self._cond:
            return {
                "requested": self.requested,
                "superseded": self.superseded,
                "applied": self.applied,
                "failed": self.failed,
                "last_error": self.last_error,
                "pending": self._pending is not None or self._busy,
            }

    def request(self, name: str) -> None:
        """Ask for renderer ``name`` (returns at once; a still-pending older request is dropped)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("renderer swapper is closed")
            self.requested += 1
            if self._pending is not None:
                self.superseded += 1
            self._pending = name
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pyavatar-renderer-swap", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no request is pending or being prepared; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _next(self) -> str | None:
        """The newest request once the rate limit allows (None when closed)."""
        with self._cond:
            while not self._closed:
                wait = self._last_start + self.min_interval_s - time.monotonic()
                if self._pending is not None and wait <= 0:
                    name, self._pending = self._pending, None
                    self._busy = True
                    self._last_start = time.monotonic()
                    return name
                self._cond.wait(wait if self._pending is not None else None)
            return None

    def _run(self) -> None:
        while (name := self._next()) is not None:
            try:
                prepared = self._prepare(name)
                with self._cond:
                    overtaken = self._pending is not None or self._closed
                if overtaken:
                    with self._cond:
                        self.superseded += 1
                else:
                    self._apply(prepared)
                    with self._cond:
                        self.applied += 1
            except Exception as e:  # a renderer that cannot be made or prepared: counted and logged
                with self._cond:
                    self.failed += 1
                    self.last_error = f"renderer {name!r}: {type(e).__name__}: {e}"
                log.warning("renderer swap to %r failed: %s", name, e)
            finally:
                prepared = None  # an overtaken renderer is released now, not at the next request
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        """Drop the pending request and wait for a preparation in progress (whose result is discarded)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning(
                    "a renderer preparation did not finish within %.0f s; it is discarded when it does", timeout
                )
