"""Bounded queues with a named overflow policy and drop counters.

- ``BLOCK``: ``put`` waits for room (lossless back-pressure, offline paths).
- ``DROP_OLDEST``: ``put`` never waits; the oldest item makes room and is counted.
- ``LATEST``: like ``DROP_OLDEST`` on ``put``, and ``get`` returns the newest item,
  counting the older ones it skips (newest-wins).

``close()`` wakes every waiter: ``put`` then raises :class:`QueueClosed` and
``get`` raises it once the queue is empty.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Policy(enum.Enum):
    """What a full queue does with a new item."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    LATEST = "latest"


class QueueClosed(Exception):
    """The queue was closed (and, for ``get``, is empty)."""


class QueueTimeout(Exception):
    """``get`` or ``put`` waited ``timeout`` seconds without success."""


class BoundedQueue(Generic[T]):
    """A thread-safe queue of at most ``maxsize`` items with overflow ``policy``."""

    def __init__(self, maxsize: int, policy: Policy = Policy.BLOCK, name: str = "queue") -> None:
        if maxsize < 1:
            raise ValueError(f"{name}: maxsize must be at least 1, got {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.policy = policy
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.puts = 0
        self.dropped = 0
        self.flushed = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def put(self, item: T, timeout: float | None = None) -> int:
        """Add ``item``; returns how many items were dropped to make room."""
        with self._cond:
            if self._closed:
                raise QueueClosed(self.name)
            dropped = 0
            if self.policy is Policy.BLOCK:
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.maxsize and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise QueueTimeout(f"{self.name}: full for {timeout} s")
                    self._cond.wait(left)
                if self._closed:
                    raise QueueClosed(self.name)
            else:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    dropped += 1
                self.dropped += dropped
            self._items.append(item)
            self.puts += 1
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float | None = None) -> T:
        """Next item (the newest one under ``LATEST``); waits up to ``timeout`` seconds."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    raise QueueClosed(self.name)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise QueueTimeout(f"{self.name}: empty for {timeout} s")
                self._cond.wait(left)
            if self.policy is Policy.LATEST:
                skipped = len(self._items) - 1
                self.dropped += skipped
                item = self._items.pop()
                self._items.clear()
            else:
                item = self._items.popleft()
            self._cond.notify_all()
            return item

    def clear(self) -> int:
        """Discard every waiting item (counted in :attr:`flushed`, not as drops)."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self.flushed += n
            self._cond.notify_all()
            return n

    def close(self) -> None:
        """Refuse further puts and wake every waiter (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
