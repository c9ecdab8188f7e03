"""Outputs for code in the same process: a callback per frame, or an iterator of frames.

:class:`CallbackSink` and :class:`FrameQueue` receive the paced video frames;
:class:`MotionCallbackSink` and :class:`MotionFrameQueue` every motion frame (parameters only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout

F = TypeVar("F", VideoFrame, MotionFrame)


class _Callback(Generic[F]):
    def __init__(self, fn: Callable[[F], object]) -> None:
        self.fn: Callable[[F], object] = fn

    def start(self, info: StreamInfo) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to release."""


class CallbackSink(_Callback[VideoFrame]):
    """Calls ``fn(frame)`` for every video frame, in the pipeline's output thread (keep it short).

    An exception in ``fn`` stops the pipeline and is re-raised by ``stop()``.
    """

    def write_video(self, frame: VideoFrame) -> None:
        """Call ``fn`` with the frame."""
        self.fn(frame)


class MotionCallbackSink(_Callback[MotionFrame]):
    """Calls ``fn(motion)`` for every motion frame, in the pipeline's motion thread (keep it short).

    An exception in ``fn`` stops the pipeline and is re-raised by ``stop()``.
    """

    def write_motion(self, frame: MotionFrame) -> None:
        """Call ``fn`` with the frame."""
        self.fn(frame)


class _Queue(Generic[F]):
    def __init__(self, maxsize: int = 4) -> None:
        self._queue: BoundedQueue[F] = BoundedQueue(maxsize, Policy.DROP_OLDEST, "frame queue")

    @property
    def dropped(self) -> int:
        """Frames the consumer missed."""
        return self._queue.dropped

    def start(self, info: StreamInfo) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """End the consumer's iteration once it has taken the frames still queued."""
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


class FrameQueue(_Queue[VideoFrame]):
    """Keeps the newest ``maxsize`` video frames for a consumer thread; iterate it (or call :meth:`get`).

    Never blocks the pipeline: when the consumer falls behind, the oldest
    frames are dropped (counted in :attr:`dropped`). Iteration ends when the
    pipeline closes the sink.
    """

    def write_video(self, frame: VideoFrame) -> None:
        """Queue the frame (dropping the oldest when full)."""
        self._queue.put(frame)


class MotionFrameQueue(_Queue[MotionFrame]):
    """As :class:`FrameQueue`, for motion frames."""

    def write_motion(self, frame: MotionFrame) -> None:
        """Queue the frame (dropping the oldest when full)."""
        self._queue.put(frame)
