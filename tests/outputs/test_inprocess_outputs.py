"""In-process outputs: callbacks, the frame queue, and the preview window's display check."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pyavatar.outputs.callback import CallbackSink, FrameQueue, MotionCallbackSink, MotionFrameQueue
from pyavatar.outputs.preview import PreviewError, PreviewSink
from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.sinks import sink_roles


def _vf(i: int) -> VideoFrame:
    m = MotionFrame(i, 0, 30.0, -1, np.zeros(25, np.float32), np.zeros(5, np.float32))
    return VideoFrame(np.zeros((2, 2, 3), np.uint8), m)


def test_frame_queue_keeps_the_newest_and_ends_when_closed() -> None:
    q: FrameQueue = FrameQueue(maxsize=3)
    for i in range(5):
        q.write_video(_vf(i))
    assert q.dropped == 2
    got: list[int] = []
    t = threading.Thread(target=lambda: got.extend(f.index for f in q))
    t.start()
    q.close()
    t.join(2)
    assert got == [2, 3, 4] and not t.is_alive()
    with pytest.raises(TimeoutError):
        FrameQueue().get(timeout=0.01)


def test_callbacks_receive_their_kind_of_frame() -> None:
    seen: list[int] = []
    sink = CallbackSink(lambda f: seen.append(f.index))
    sink.start(StreamInfo(2, 2, 30.0))
    sink.write_video(_vf(7))
    sink.close()
    motion = MotionCallbackSink(lambda m: seen.append(m.index))
    motion.write_motion(_vf(8).motion)
    assert seen == [7, 8]
    assert sink_roles(sink) == (True, False) and sink_roles(motion) == (False, True)
    assert sink_roles(FrameQueue()) == (True, False) and sink_roles(MotionFrameQueue()) == (False, True)
    with pytest.raises(TypeError, match=r"list is not an output.*write_video.*write_motion"):
        sink_roles([])


def test_preview_without_a_display_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(PreviewError, match="no display"):
        PreviewSink().start(StreamInfo(2, 2, 30.0))
