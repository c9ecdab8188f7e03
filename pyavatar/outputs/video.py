"""Video files through PyAV (H.264 + AAC by default) and PNG sequences.

:class:`VideoFileSink` numbers frames from 0 at ``1 / fps`` and interleaves
the source audio from time 0, so frame ``i`` shows the audio at
``[i / fps, (i + 1) / fps)``: A/V alignment is exact by construction. With
``alpha=True`` it writes ProRes 4444 (``.mov``) or VP9 with alpha (``.webm``);
MP4/H.264 has no alpha.

Every output is written under a temporary name in the destination folder and
renamed into place only when it is complete (:meth:`VideoFileSink.close`); a
failed or interrupted render (:meth:`VideoFileSink.abort`) leaves no file under
the final name. :func:`check_output` refuses an output that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from pyavatar.packets import AudioChunk
from pyavatar.runtime.frames import StreamInfo, VideoFrame

#: Sample rates the AAC encoder accepts.
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
OPUS_RATES = (48000, 24000, 16000, 12000, 8000)
_CONTAINERS = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}


def check_output(output: str | Path, inputs: Iterable[str | Path | None]) -> Path:
    """``output`` as a Path, or ValueError when it is one of ``inputs`` (writing it would destroy the input)."""
    out = Path(output)
    for inp in inputs:
        if inp is None or isinstance(inp, np.ndarray):
            continue
        p = Path(inp)
        same = out.resolve() == p.resolve()
        if not same and out.exists() and p.exists():
            same = os.path.samefile(out, p)
        if same:
            raise ValueError(
                f"output {out} is the input {p}: writing it would destroy the input; choose another output name"
            )
    return out


def partial_path(path: Path) -> Path:
    """Where ``path`` is written until it is complete: a hidden file in the same folder, same suffix."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def commit_partial(partial: Path, path: Path) -> None:
    """Move a completed ``partial`` file into place under ``path`` (atomic on one file system)."""
    os.replace(partial, path)


def discard_partial(partial: Path) -> None:
    """Remove an incomplete ``partial`` file (missing is fine)."""
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()


def audio_rates(path: str | Path) -> tuple[int, ...]:
    """Sample rates the audio codec of ``path``'s container accepts."""
    return OPUS_RATES if Path(path).suffix.lower() == ".webm" else AAC_RATES


def _codecs(suffix: str, alpha: bool) -> tuple[str, str, str]:
    """(video codec, pixel format, audio codec) for a container suffix."""
    if suffix not in _CONTAINERS:
        raise ValueError(
            f"unsupported video file type {suffix!r}; use one of {sorted(_CONTAINERS)} (or a folder for PNG frames)"
        )
    if suffix == ".webm":
        return "libvpx-vp9", "yuva420p" if alpha else "yuv420p", "libopus"
    if alpha:
        if suffix != ".mov":
            raise ValueError(f"{suffix} cannot hold alpha: write .mov (ProRes 4444), .webm (VP9) or PNG frames")
        return "prores_ks", "yuva444p10le", "aac"
    return "libx264", "yuv420p", "aac"


class VideoFileSink:
    """Writes frames (and the source audio) to a video file.

    Args:
        path: output file (.mp4, .m4v, .mov, .mkv or .webm).
        audio: the audio to mux (AudioChunks of one rate the container accepts, see
            :func:`audio_rates`), or None for a silent video.
        alpha: keep the portrait's alpha (.mov / .webm only).
        crf: H.264 / VP9 quality (lower is better).
        preset: x264 speed preset.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        audio: Iterable[AudioChunk] | None = None,
        alpha: bool = False,
        crf: int = 20,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        self.alpha = alpha
        self.vcodec, self.pix_fmt, self.acodec = _codecs(self.path.suffix.lower(), alpha)
        self.crf, self.preset = crf, preset
        self._audio_in: Iterator[AudioChunk] | None = iter(audio) if audio is not None else None
        self._pending: list[np.ndarray] = []
        self._audio_pos = 0
        self._rate = 0
        self.frames = 0
        self.audio_samples = 0
        self._container = None
        self._vstream = None
        self._astream = None
        self._size: tuple[int, int] = (0, 0)
        self._partial = partial_path(self.path)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as encoded: 4:2:0 codecs need even sizes, so an odd side gets its edge repeated."""
        return self._size

    def start(self, info: StreamInfo) -> None:
        """Open the partial file and its streams for ``info``'s size and rate (errors name the path)."""
        import av

        if self.alpha and not info.has_alpha:
            raise ValueError(f"{self.path}: alpha requested but the portrait has no alpha channel")
        if self.path.is_dir():
            raise ValueError(
                f"output {self.path} is a directory; give a video file name (or a folder without a "
                "suffix for PNG frames)"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._partial = partial_path(self.path)
            container = av.open(str(self._partial), "w")
        except (OSError, av.error.FFmpegError) as e:
            raise OSError(f"cannot write the output {self.path}: {e}") from None
        self._fps = Fraction(info.fps).limit_denominator(1001)
        self._container = container
        v = container.add_stream(self.vcodec, rate=self._fps)
        even = 2 if self.pix_fmt.startswith("yuv") and "444" not in self.pix_fmt else 1
        self._size = (info.width + info.width % even, info.height + info.height % even)
        v.width, v.height = self._size
        v.pix_fmt = self.pix_fmt
        v.time_base = 1 / self._fps
        if self.vcodec == "libx264":
            v.options = {"crf": str(self.crf), "preset": self.preset}
        elif self.vcodec == "libvpx-vp9":
            v.options = {"crf": str(self.crf), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        elif self.vcodec == "prores_ks":
            v.options = {"profile": "4"}
        self._vstream = v
        if self._audio_in is not None:
            first = next(self._audio_in, None)
            if first is not None:
                self._rate = first.sample_rate
                if self._rate not in audio_rates(self.path):
                    raise ValueError(
                        f"{self.path}: {self.acodec} cannot encode {self._rate} Hz audio "
                        f"(use one of {audio_rates(self.path)})"
                    )
                self._pending.append(first.samples)
                a = container.add_stream(self.acodec, rate=self._rate)
                a.layout = "mono"
                a.time_base = Fraction(1, self._rate)
                self._astream = a

    def _encode_audio(self, samples: np.ndarray) -> None:
        import av

        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="fltp", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._audio_pos
        self._audio_pos += len(samples)
        for packet in self._astream.encode(frame):
            self._container.mux(packet)

    def _audio_until(self, seconds: float | None) -> None:
        """Mux source audio up to ``seconds`` (None: all of it)."""
        if self._astream is None:
            return
        want = None if seconds is None else round(seconds * self._rate)
        while want is None or self.audio_samples < want:
            if not self._pending:
                chunk = next(self._audio_in, None) if self._audio_in is not None else None
                if chunk is None:
                    break
                if chunk.sample_rate != self._rate:
                    raise ValueError(f"{self.path}: audio rate changed from {self._rate} to {chunk.sample_rate} Hz")
                self._pending.append(chunk.samples)
            block = self._pending.pop(0)
            if want is not None and self.audio_samples + len(block) > want:
                cut = want - self.audio_samples
                self._pending.insert(0, block[cut:])
                block = block[:cut]
            self.audio_samples += len(block)
            self._encode_audio(block)

    def write_video(self, frame: VideoFrame) -> None:
        """Encode one frame and the audio up to its end."""
        import av

        assert self._vstream is not None, "start() first"
        img = frame.image
        if self.alpha:
            a = frame.alpha if frame.alpha is not None else np.full(img.shape[:2], 255, np.uint8)
            img = np.concatenate([img, a[..., None]], axis=2)
        w, h = self._size
        if img.shape[1] != w or img.shape[0] != h:  # odd size: repeat the last row/column
            img = np.pad(img, ((0, h - img.shape[0]), (0, w - img.shape[1]), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgba" if self.alpha else "rgb24")
        vf.pts = self.frames
        for packet in self._vstream.encode(vf):
            self._container.mux(packet)
        self.frames += 1
        self._audio_until(self.frames / float(self._fps))

    def close(self) -> None:
        """Finish the file and move it into place (on any failure the partial file is removed)."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            self._audio_until(None)
            for packet in self._vstream.encode():
                container.mux(packet)
            if self._astream is not None:
                for packet in self._astream.encode():
                    container.mux(packet)
            container.close()
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            discard_partial(self._partial)
            raise
        commit_partial(self._partial, self.path)

    def abort(self) -> None:
        """The render failed: close without finishing and remove the partial file (the final name is untouched)."""
        container, self._container = self._container, None
        if container is None:
            return
        with contextlib.suppress(Exception):
            container.close()
        discard_partial(self._partial)


class PngSequenceSink:
    """Writes every frame as ``directory/frame_000000.png`` … (RGBA with ``alpha=True``)."""

    def __init__(
        self, directory: str | Path, *, alpha: bool = False, pattern: str = "frame_{:06d}.png", compress_level: int = 1
    ) -> None:
        self.directory = Path(directory)
        self.alpha = alpha
        self.pattern = pattern
        self.compress_level = compress_level
        self.frames = 0
        pattern.format(0)  # fail early on a bad pattern

    def start(self, info: StreamInfo) -> None:
        """Create the folder (errors name it and say why it cannot be written)."""
        if self.alpha and not info.has_alpha:
            raise ValueError(f"{self.directory}: alpha requested but the portrait has no alpha channel")
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"output {self.directory} is a file; PNG frames need a folder")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create the output folder {self.directory}: {e}") from None
        if not os.access(self.directory, os.W_OK):
            raise OSError(f"cannot write the output folder {self.directory}: permission denied")

    def write_video(self, frame: VideoFrame) -> None:
        """Write the next numbered PNG (temporary name, then renamed)."""
        from PIL import Image

        img = frame.image
        if self.alpha:
            a = frame.alpha if frame.alpha is not None else np.full(img.shape[:2], 255, np.uint8)
            img = np.concatenate([img, a[..., None]], axis=2)
        final = self.directory / self.pattern.format(self.frames)
        partial = partial_path(final)
        try:
            Image.fromarray(img).save(partial, compress_level=self.compress_level)
        except BaseException:
            discard_partial(partial)
            raise
        commit_partial(partial, final)
        self.frames += 1

    def close(self) -> None:
        """Nothing to release."""
