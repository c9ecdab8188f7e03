"""A preview window (OpenCV HighGUI) showing the output frames, when a display exists."""

from __future__ import annotations

import os
import platform
import threading
from types import ModuleType

import numpy as np

from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout
from pyavatar.worker import Worker


class PreviewError(RuntimeError):
    """No display, or OpenCV without GUI support."""


def display_available() -> bool:
    """Whether a window can be opened (a display on Linux; always assumed on Windows/macOS)."""
    if platform.system() != "Linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class PreviewSink:
    """Shows frames in a window titled ``title`` from its own thread (newest frame wins; Esc or q closes it).

    Closing the window sets :attr:`closed_by_user`; the pipeline keeps running.
    """

    def __init__(self, title: str = "pyavatar") -> None:
        self.title = title
        self.closed_by_user = threading.Event()
        self._queue: BoundedQueue[np.ndarray] = BoundedQueue(1, Policy.LATEST, "preview")
        self._worker: Worker | None = None

    def start(self, info: StreamInfo) -> None:
        """Open the window's thread (PreviewError without a display or without OpenCV's GUI)."""
        if not display_available():
            raise PreviewError("no display for the preview window (DISPLAY/WAYLAND_DISPLAY not set); drop --preview")
        try:
            import cv2
        except ImportError as e:
            raise PreviewError(
                f"the preview window needs OpenCV with GUI support: pip install opencv-python ({e})"
            ) from e
        self._worker = Worker("preview", lambda: self._run(cv2))
        self._worker.start()

    def _run(self, cv2: ModuleType) -> None:
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        while True:
            try:
                img = self._queue.get(timeout=0.05)
                cv2.imshow(self.title, img)
            except QueueTimeout:
                pass
            except QueueClosed:
                break
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                self.closed_by_user.set()
                break
        cv2.destroyWindow(self.title)

    def describe(self) -> str:
        """One line for a start-up banner."""
        return "preview window"

    def write_video(self, frame: VideoFrame) -> None:
        """Show ``frame`` next (replacing one not shown yet); nothing once the user closed the window."""
        if not self.closed_by_user.is_set():
            self._queue.put(np.ascontiguousarray(frame.image[..., ::-1]))  # OpenCV wants BGR

    def close(self) -> None:
        """Close the window and re-raise what its thread raised."""
        self._queue.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
