"""Video files through PyAV: frames as RGB arrays with their times, and a file that behaves like a camera."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame size, rate, frame count (0 when unknown), duration and audio."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    has_audio: bool


def _open(path: str | Path):  # noqa: ANN202 - av.container.InputContainer
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise ValueError(f"{path}: cannot open as video ({e})") from e
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: no video stream")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Size, frame rate, frame count and audio presence of a video file."""
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration
            else (container.duration / 1e6 if container.duration else 0.0)
        )
        return VideoInfo(
            Path(path),
            stream.codec_context.width,
            stream.codec_context.height,
            fps,
            int(stream.frames or 0),
            duration,
            bool(container.streams.audio),
        )


def iter_video(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """``(time_s, rgb uint8 (H, W, 3))`` for every frame of a video file, in order."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else i / float(stream.average_rate or 30)
            yield t, frame.to_ndarray(format="rgb24")


class VideoFileDevice:
    """A video file that behaves like ``cv2.VideoCapture`` on a camera (for tests and demos without a webcam).

    :meth:`read` returns ``(ok, bgr_frame)`` paced in real time at the file's
    frame rate (``realtime=False``: as fast as asked), loops when ``loop`` is
    set, and reports ``(False, None)`` at the end like an unplugged camera.
    """

    def __init__(self, path: str | Path, *, realtime: bool = True, loop: bool = False) -> None:
        self.info = probe_video(path)
        self.path = Path(path)
        self.realtime, self.loop = realtime, loop
        self._frames = iter_video(self.path)
        self._t0: float | None = None
        self._opened = True

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture interface
        """Whether the file could be opened (the ``cv2.VideoCapture`` interface)."""
        return self._opened

    def get(self, prop: int) -> float:
        """A capture property (frame size, fps, frame count); 0 for unknown ones."""
        import cv2

        return {
            cv2.CAP_PROP_FPS: self.info.fps,
            cv2.CAP_PROP_FRAME_WIDTH: float(self.info.width),
            cv2.CAP_PROP_FRAME_HEIGHT: float(self.info.height),
        }.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        """Properties cannot be set on a file; always False."""
        return False  # a file's size and rate are what they are

    def read(self) -> tuple[bool, np.ndarray | None]:
        """(ok, next frame as BGR) like ``cv2.VideoCapture.read``; (False, None) at the end."""
        if not self._opened:
            return False, None
        item = next(self._frames, None)
        if item is None and self.loop:
            self._frames, self._t0 = iter_video(self.path), None
            item = next(self._frames, None)
        if item is None:
            return False, None
        t, rgb = item
        if self.realtime:
            now = time.monotonic()
            self._t0 = now - t if self._t0 is None else self._t0
            wait = self._t0 + t - now
            if wait > 0:
                time.sleep(wait)
        return True, np.ascontiguousarray(rgb[..., ::-1])

    def release(self) -> None:
        """Close the file."""
        self._opened = False
        self._frames.close()  # type: ignore[attr-defined]


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    crf: int = 14,
) -> Path:
    """Write RGB uint8 (T, H, W, 3) ``frames`` (H.264, even sizes) and optional mono float ``audio`` (AAC).

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_video: expected RGB uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps) if float(fps).is_integer() else fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")))
        container.mux(stream.encode())
        if astream is not None:
            samples = np.clip(np.asarray(audio, np.float32), -1, 1)[None, :]
            block = 1024
            for i in range(0, samples.shape[1], block):
                piece = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, i : i + block]), format="fltp", layout="mono"
                )
                piece.sample_rate = sample_rate
                piece.pts = i
                container.mux(astream.encode(piece))
            container.mux(astream.encode())
    tmp.replace(path)
    return path
