"""Outputs for code in the same process: a callback per frame, or an iterator of frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout

F = TypeVar("F", VideoFrame, MotionFrame)


class CallbackSink(Generic[F]):
    """Calls ``fn(frame)`` for every frame, in the pipeline's output thread (keep it short).

    ``kind`` is ``"video"`` (rendered frames) or ``"motion"`` (parameters only).
    An exception in ``fn`` stops the pipeline and is re-raised by ``stop()``.
    """

    def __init__(self, fn: Callable[[F], object], kind: str = "video") -> None:
        if kind not in ("video", "motion"):
            raise ValueError(f"kind must be 'video' or 'motion', got {kind!r}")
        self.fn = fn
        self.kind = kind

    def start(self, info: StreamInfo) -> None:
        """Nothing to open."""

    def write(self, frame: F) -> None:
        self.fn(frame)

    def close(self) -> None:
        """Nothing to release."""


class FrameQueue(Generic[F]):
    """Keeps the newest ``maxsize`` frames for a consumer thread; iterate it (or call :meth:`get`).

    Never blocks the pipeline: when the consumer falls behind, the oldest
    frames are dropped (counted in :attr:`dropped`). Iteration ends when the
    pipeline closes the sink.
    """

    def __init__(self, maxsize: int = 4, kind: str = "video") -> None:
        if kind not in ("video", "motion"):
            raise ValueError(f"kind must be 'video' or 'motion', got {kind!r}")
        self.kind = kind
        self._queue: BoundedQueue[F] = BoundedQueue(maxsize, Policy.DROP_OLDEST, "frame queue")

    @property
    def dropped(self) -> int:
        """Frames the consumer missed."""
        return self._queue.dropped

    def start(self, info: StreamInfo) -> None:
        """Nothing to open."""

    def write(self, frame: F) -> None:
        self._queue.put(frame)

    def close(self) -> None:
        self._queue.close()

    def get(self, timeout: float | None = None) -> F | None:
        """The next frame; None once closed and drained. Raises TimeoutError after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout)
        except QueueClosed:
            return None
        except QueueTimeout as e:
            raise TimeoutError(str(e)) from None

    def __iter__(self) -> Iterator[F]:
        while (frame := self.get()) is not None:
            yield frame
