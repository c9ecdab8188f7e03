"""Camera capture through a video-file-backed device (no webcam here): the same code after the open call."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pyavatar.video import CameraCapture, CameraError, VideoFileDevice, iter_video, probe_video, write_video
from pyavatar.video.capture import list_cameras, resolve_camera


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


def test_camera_frames_arrive_in_order_with_their_pixels(clip: Path):
    with CameraCapture(0, opener=lambda i: VideoFileDevice(clip)) as cam:
        assert cam.size == (64, 64) and cam.fps == 30.0
        frames = list(cam)
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices)) and len(frames) + cam.dropped == 30 == cam.frames_read
    assert len(frames) >= 15  # a reader that keeps up sees (nearly) all; a loaded machine may skip a few
    assert np.allclose([f.image.mean() for f in frames], [20 + 7 * i for i in indices], atol=3)
    assert all(b.capture_ns > a.capture_ns for a, b in zip(frames, frames[1:]))


def test_newest_frame_wins_for_a_slow_reader(clip: Path):
    with CameraCapture(0, opener=lambda i: VideoFileDevice(clip)) as cam:
        seen = []
        while (frame := cam.read()) is not None:
            seen.append(frame.index)
            time.sleep(0.1)  # three camera frames per read
            age_ms = (time.monotonic_ns() - frame.capture_ns) / 1e6
            assert age_ms < 1000
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert len(seen) < 20 and cam.dropped >= 30 - len(seen) - 1


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
