"""What an output is to the runtime: a :class:`VideoSink` (rendered frames) and/or a :class:`MotionSink` (parameters).

The two protocols differ by their write method, so what a sink receives is
part of its type: mypy checks it where sinks are built, and :func:`sink_roles`
checks it at run time (``isinstance`` on these runtime-checkable protocols).
A sink may implement both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo, VideoFrame


@runtime_checkable
class Sink(Protocol):
    """An output the pipeline opens and closes.

    A sink may also have ``abort()``: called instead of ``close()`` after a failure (a file sink then
    removes its incomplete output).
    """

    def start(self, info: StreamInfo) -> None:
        """Open the output."""

    def close(self) -> None:
        """Release the output (idempotent)."""


@runtime_checkable
class VideoSink(Sink, Protocol):
    """Receives the paced video frames (virtual webcam, file, preview, callback)."""

    def write_video(self, frame: VideoFrame) -> None:
        """Deliver one frame."""


@runtime_checkable
class MotionSink(Sink, Protocol):
    """Receives every motion frame (OSC/VMC senders, VTube Studio); ``write_motion`` must not block."""

    def write_motion(self, frame: MotionFrame) -> None:
        """Deliver one frame."""


def sink_roles(sink: object) -> tuple[bool, bool]:
    """``(is a video sink, is a motion sink)``; TypeError naming the object when it is neither."""
    roles = isinstance(sink, VideoSink), isinstance(sink, MotionSink)
    if not any(roles):
        raise TypeError(
            f"{type(sink).__name__} is not an output: it needs start(info), close() and write_video(frame) "
            "(video frames) or write_motion(frame) (motion frames)"
        )
    return roles
