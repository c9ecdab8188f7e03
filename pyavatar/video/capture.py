"""Camera capture through OpenCV in its own thread; the newest frame wins.

``CameraCapture(0)`` or ``CameraCapture("Logitech")`` opens a camera by index
or by (part of) its name (Linux: ``/sys/class/video4linux/*/name``). A reader
thread keeps only the newest frame, so a slow consumer always gets the latest
image and never a backlog; :attr:`CameraCapture.dropped` counts the frames it
never saw. ``opener`` replaces ``cv2.VideoCapture`` (e.g. with a
:class:`~pyavatar.video.files.VideoFileDevice`): everything after that call
is the same code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.worker import Worker

log = logging.getLogger(__name__)
SYSFS = Path("/sys/class/video4linux")


class CameraError(RuntimeError):
    """A camera that cannot be found, opened or read."""


@dataclass(frozen=True)
class CapturedFrame:
    """One camera frame: RGB uint8 pixels, its number, and ``capture_ns`` (``time.monotonic_ns`` on arrival)."""

    image: np.ndarray
    index: int
    capture_ns: int


def list_cameras(sysfs: Path = SYSFS) -> list[tuple[int, str]]:
    """``(index, name)`` of the video devices the system lists (Linux sysfs; empty elsewhere or when none)."""
    found = []
    for dev in sorted(sysfs.glob("video*")) if sysfs.is_dir() else []:
        try:
            index = int(dev.name[len("video") :])
        except ValueError:
            continue
        name_file = dev / "name"
        name = name_file.read_text(encoding="utf-8", errors="replace").strip() if name_file.is_file() else dev.name
        found.append((index, name))
    return found


def _describe(cameras: list[tuple[int, str]]) -> str:
    if not cameras:
        return "no cameras found (is one plugged in, and may this user open /dev/video*?)"
    return "cameras: " + ", ".join(f"{i}: {n}" for i, n in cameras)


def resolve_camera(device: int | str, cameras: list[tuple[int, str]] | None = None) -> int:
    """Index of ``device``: an index (``0`` or ``"0"``) or a case-insensitive part of a camera's name."""
    if isinstance(device, int) or str(device).isdigit():
        return int(device)
    cameras = list_cameras() if cameras is None else cameras
    matches = [i for i, name in cameras if str(device).lower() in name.lower()]
    if not matches:
        raise CameraError(f"no camera named like {device!r}; {_describe(cameras)}")
    return matches[0]


class CameraCapture:
    """Frames from a camera, read by a background thread (see the module docstring).

    Args:
        device: index or name part (see :func:`resolve_camera`).
        width, height, fps: requested mode (the camera may choose another; see :attr:`size` and :attr:`fps`).
        opener: called with the index to open the device (default ``cv2.VideoCapture``).
    """

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        opener: Callable[[int], Any] | None = None,
    ) -> None:
        import cv2

        self.device = device
        self.index = resolve_camera(device)
        self._cap = (opener or cv2.VideoCapture)(self.index)
        if not self._cap.isOpened():
            raise CameraError(f"camera {device!r} (index {self.index}) cannot be opened; {_describe(list_cameras())}")
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, width),
            (cv2.CAP_PROP_FRAME_HEIGHT, height),
            (cv2.CAP_PROP_FPS, fps),
        ):
            if value is not None:
                self._cap.set(prop, float(value))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or fps or 30.0)
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frames_read = 0
        self.dropped = 0
        self._newest: CapturedFrame | None = None
        self._taken = -1
        self._ended = False
        self._reported = False  # the reader has seen the worker's error
        self._cond = threading.Condition()
        self._worker = Worker("camera", self._run, on_exit=self._end)
        self._worker.start()

    def _run(self) -> None:
        while not self._worker.stop.is_set():
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                return
            frame = CapturedFrame(np.ascontiguousarray(bgr[..., ::-1]), self.frames_read, time.monotonic_ns())
            with self._cond:
                if self._newest is not None and self._newest.index > self._taken:
                    self.dropped += 1
                self._newest = frame
                self.frames_read += 1
                self._cond.notify_all()

    def _end(self) -> None:
        """The reader thread ended (its error, if any, is in the worker): wake a waiting :meth:`read`."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _raise_error(self) -> None:
        err = self._worker.error
        if err is not None:
            self._reported = True
            raise CameraError(f"camera {self.device!r}: reading failed ({err})") from err

    @property
    def ended(self) -> bool:
        """The device stopped delivering frames (unplugged, end of a file)."""
        return self._ended

    def read(self, timeout: float = 2.0) -> CapturedFrame | None:
        """The newest frame not returned before; waits up to ``timeout`` s; None once the device has ended.

        Raises :class:`CameraError` when no frame arrives in time or the reader failed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._newest is None or self._newest.index <= self._taken:
                self._raise_error()
                if self._ended:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraError(f"camera {self.device!r}: no frame within {timeout:.1f} s")
                self._cond.wait(left)
            frame = self._newest
            self._taken = frame.index
            return frame

    def poll(self) -> CapturedFrame | None:
        """The newest frame not returned before, or None when none is new (never waits)."""
        with self._cond:
            self._raise_error()
            if self._newest is None or self._newest.index <= self._taken:
                return None
            self._taken = self._newest.index
            return self._newest

    def __iter__(self) -> Iterator[CapturedFrame]:
        """The frames :meth:`read` returns, until the device ends."""
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Stop the reader thread and release the device (a failure :meth:`read` never reported is logged)."""
        err = self._worker.join()
        self._cap.release()
        if err is not None and not self._reported:
            log.error("camera %r: reading failed (%s)", self.device, err)

    def __enter__(self) -> CameraCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
