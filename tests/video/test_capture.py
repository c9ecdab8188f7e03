"""Camera capture through a video-file-backed device (no webcam here): the same code after the open call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pyavatar.video import CameraCapture, CameraError, VideoFileDevice, iter_video, probe_video, write_video
from pyavatar.video.capture import list_cameras, resolve_camera
from tests.runtime.helpers import pyavatar_threads


def _numbered_frames(n: int, size: int = 64) -> np.ndarray:
    """Frames whose mean brightness encodes their number (survives H.264)."""
    return np.stack([np.full((size, size, 3), 20 + 7 * i, np.uint8) for i in range(n)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("cap") / "clip.mp4", _numbered_frames(30), 30.0)


def test_video_file_reads_back(clip: Path):
    info = probe_video(clip)
    assert (info.width, info.height, info.fps) == (64, 64, 30.0)
    frames = list(iter_video(clip))
    assert len(frames) == 30
    brightness = [f.mean() for _, f in frames]
    assert np.allclose(brightness, 20 + 7 * np.arange(30), atol=3)
    assert [round(t * 30) for t, _ in frames] == list(range(30))


class Gated(VideoFileDevice):
    """The clip as a camera that delivers a frame (or its end) only when the test lets it: :meth:`allow`."""

    def __init__(self, path: Path, fail_at: int | None = None) -> None:
        super().__init__(path, realtime=False)
        self.permits = threading.Semaphore(0)
        self.fail_at = fail_at
        self.reads = 0

    def allow(self, n: int = 1) -> None:
        self.permits.release(n)

    def read(self) -> tuple[bool, np.ndarray | None]:
        assert self.permits.acquire(timeout=30), "the test never allowed this read"
        if self.reads == self.fail_at:
            raise OSError("device unplugged")
        self.reads += 1
        return super().read()


def _until(done: Callable[[], bool], what: str) -> None:
    """Wait for the reader thread (a deadline against hanging, not a timing check)."""
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.002)


def test_camera_frames_arrive_in_order_with_their_pixels(clip: Path):
    device = Gated(clip)
    with CameraCapture(0, opener=lambda i: device) as cam:
        assert cam.size == (64, 64) and cam.fps == 30.0
        frames = []
        for _ in range(30):  # a reader that keeps up: one frame out for every frame in
            device.allow()
            frames.append(cam.read())
        device.allow()  # the end of the clip
        assert cam.read() is None and cam.ended
    assert [f.index for f in frames] == list(range(30)) and cam.frames_read == 30 and cam.dropped == 0
    assert np.allclose([f.image.mean() for f in frames], 20 + 7 * np.arange(30), atol=3)
    assert all(b.capture_ns > a.capture_ns for a, b in zip(frames, frames[1:]))
    assert "pyavatar-camera" not in pyavatar_threads()


def test_newest_frame_wins_for_a_slow_reader(clip: Path):
    device = Gated(clip)
    with CameraCapture(0, opener=lambda i: device) as cam:
        seen, delivered = [], 0
        for arrived in (3, 1, 5, 21):  # frames the camera delivers between two reads (30 in all)
            device.allow(arrived)
            delivered += arrived
            _until(lambda n=delivered: cam.frames_read == n, f"{delivered} frames read")
            seen.append(cam.read().index)
            assert cam.poll() is None  # nothing newer is waiting
        device.allow()  # the end of the clip
        assert cam.read() is None
    assert seen == [2, 3, 8, 29]  # always the newest; the frames in between were dropped, never queued
    assert cam.dropped == 30 - len(seen) and cam.frames_read == 30


def test_a_read_failure_reaches_the_reader_and_close_is_clean(clip: Path, caplog: pytest.LogCaptureFixture):
    device = Gated(clip, fail_at=2)
    cam = CameraCapture(0, opener=lambda i: device)
    for i in range(2):
        device.allow()
        assert cam.read().index == i
    device.allow()  # the third read raises in the reader thread
    for take in (cam.read, cam.poll, cam.read):  # every later call says so, naming the camera and the cause
        with pytest.raises(CameraError, match=r"camera 0: reading failed \(device unplugged\)") as err:
            take()
        assert isinstance(err.value.__cause__, OSError)
    assert cam.ended
    with caplog.at_level(logging.ERROR, logger="pyavatar.video.capture"):
        cam.close()  # the reader was told: nothing raised, nothing logged
    assert not caplog.records and "pyavatar-camera" not in pyavatar_threads()


def test_a_failure_nobody_read_is_logged_on_close(clip: Path, caplog: pytest.LogCaptureFixture):
    device = Gated(clip, fail_at=0)
    cam = CameraCapture("0", opener=lambda i: device)
    device.allow()
    _until(lambda: cam.ended, "the reader thread ended")
    with caplog.at_level(logging.ERROR, logger="pyavatar.video.capture"):
        cam.close()
    assert [r.getMessage() for r in caplog.records] == ["camera '0': reading failed (device unplugged)"]


def test_camera_by_name_and_clear_errors(tmp_path: Path, clip: Path):
    for index, name in ((0, "Integrated Webcam"), (2, "Logitech C920")):
        (tmp_path / f"video{index}").mkdir()
        (tmp_path / f"video{index}" / "name").write_text(name + "\n")
    cameras = list_cameras(tmp_path)
    assert cameras == [(0, "Integrated Webcam"), (2, "Logitech C920")]
    assert resolve_camera("logitech", cameras) == 2
    assert resolve_camera("2", cameras) == 2
    with pytest.raises(CameraError, match=r"'Elgato'.*0: Integrated Webcam, 2: Logitech C920"):
        resolve_camera("Elgato", cameras)
    with pytest.raises(CameraError, match="no cameras found"):
        resolve_camera("Elgato", [])

    class Closed(VideoFileDevice):
        def isOpened(self) -> bool:  # noqa: N802
            return False

    with pytest.raises(CameraError, match="index 5.*cannot be opened"):
        CameraCapture(5, opener=lambda i: Closed(clip))


def test_missing_video_file_is_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        probe_video(tmp_path / "nope.mp4")
