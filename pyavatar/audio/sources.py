"""Audio sources: one interface yielding timestamped mono float32 :class:`AudioChunk` s.

A source reads blocks of shape (N, C) at its native rate; the base class picks
one channel or downmixes, replaces NaN/inf samples (counted), clamps to
[-1, 1] (clipped samples counted) and stamps each chunk with the time of its
first sample. Resample to 16 kHz with :class:`pyavatar.audio.resample.Resampler`.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk

log = logging.getLogger(__name__)

#: Sample magnitude at or above which a sample counts as clipped.
CLIP_LEVEL = 0.999


class AudioSourceError(RuntimeError):
    """An audio source could not be opened or stopped delivering audio."""


class AudioDeviceError(AudioSourceError):
    """A capture device is missing, failed to open or disappeared mid-stream."""


@dataclass
class SourceStats:
    """Counters a source keeps while it runs."""

    samples: int = 0
    nonfinite: int = 0
    clipped: int = 0
    dropped: int = 0
    overflows: int = 0
    device_changes: int = 0


def to_mono(block: np.ndarray, channel: int | None, name: str = "audio") -> np.ndarray:
    """(N,) float32 from a (N,) or (N, C) block: channel ``channel`` or the mean of all channels."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 1:
        block = block[:, None]
    if block.ndim != 2:
        raise ValueError(f"{name}: expected (N,) or (N, channels) samples, got shape {block.shape}")
    if channel is None:
        return block[:, 0].copy() if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
    if not -block.shape[1] <= channel < block.shape[1]:
        raise ValueError(f"{name}: channel={channel} out of range for {block.shape[1]} channel(s)")
    return np.ascontiguousarray(block[:, channel])


def sanitize(samples: np.ndarray, stats: SourceStats) -> np.ndarray:
    """Replace NaN/inf by 0, clamp to [-1, 1] and count both in ``stats`` (in place on a copy)."""
    bad = ~np.isfinite(samples)
    n_bad = int(bad.sum())
    if n_bad:
        samples = np.where(bad, np.float32(0.0), samples)
        stats.nonfinite += n_bad
    stats.clipped += int((np.abs(samples) >= CLIP_LEVEL).sum())
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


class AudioSource(ABC):
    """Base of every source; iterate it for :class:`AudioChunk` s at :attr:`sample_rate`.

    Args:
        channel: channel index to keep; ``None`` averages all channels.
        start_pts_ns: timestamp of the first sample.
    """

    name: str = "audio"

    def __init__(self, *, channel: int | None = None, start_pts_ns: int = 0) -> None:
        self.channel = channel
        self.start_pts_ns = start_pts_ns
        self.stats = SourceStats()

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Native sample rate of the yielded chunks."""

    @abstractmethod
    def _blocks(self) -> Iterator[np.ndarray]:
        """Raw (N,) or (N, C) blocks at :attr:`sample_rate`."""

    def _chunk_pts(self) -> int:
        return self.start_pts_ns + self.stats.samples * NS_PER_S // self.sample_rate

    def __iter__(self) -> Iterator[AudioChunk]:
        for block in self._blocks():
            mono = sanitize(to_mono(block, self.channel, self.name), self.stats)
            if not len(mono):
                continue
            chunk = AudioChunk(self._chunk_pts(), self.sample_rate, mono)
            self.stats.samples += len(mono)
            yield chunk

    def close(self) -> None:  # noqa: B027 - a no-op unless a source holds a device
        """Release the underlying file or device (idempotent)."""

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ArraySource(AudioSource):
    """A complete array (N,) or (N, C) served in chunks of ``chunk_ms``."""

    name = "array"

    def __init__(self, samples: np.ndarray, sample_rate: int, *, chunk_ms: float = 20.0, **kw: int | None) -> None:
        super().__init__(**kw)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self._samples = np.asarray(samples)
        self._rate = int(sample_rate)
        self._step = max(1, round(chunk_ms * sample_rate / 1000))

    @property
    def sample_rate(self) -> int:
        """Sample rate of the chunks (Hz)."""
        return self._rate

    def _blocks(self) -> Iterator[np.ndarray]:
        for i in range(0, len(self._samples), self._step):
            yield self._samples[i : i + self._step]


class PushSource(AudioSource):
    """Audio pushed by application code (any thread); iteration ends after :meth:`end`.

    ``push`` blocks while ``max_chunks`` chunks are waiting (lossless
    back-pressure) and raises :class:`AudioSourceError` after ``timeout`` seconds.
    """

    name = "push"

    def __init__(self, sample_rate: int, *, max_chunks: int = 64, timeout: float = 10.0, **kw: int | None) -> None:
        super().__init__(**kw)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self._rate = int(sample_rate)
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_chunks)
        self._timeout = timeout
        self._ended = threading.Event()

    @property
    def sample_rate(self) -> int:
        """Sample rate of the chunks (Hz)."""
        return self._rate

    def push(self, samples: np.ndarray) -> None:
        """Queue (N,) or (N, C) samples at :attr:`sample_rate`."""
        if self._ended.is_set():
            raise AudioSourceError("push source: push() after end()")
        try:
            self._queue.put(np.array(samples, dtype=np.float32), timeout=self._timeout)
        except queue.Full:
            raise AudioSourceError(f"push source: consumer did not read for {self._timeout} s") from None

    def end(self) -> None:
        """Mark the end of the stream; iteration stops after the queued audio."""
        if not self._ended.is_set():
            self._ended.set()
            self._queue.put(None)

    def _blocks(self) -> Iterator[np.ndarray]:
        while (block := self._queue.get()) is not None:
            yield block


_VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4a", ".aac", ".opus"}


#: A file may decode this much shorter than its header declares (codec delay and padding) before it
#: counts as truncated: the larger of a fraction of the declared length and a number of seconds.
TRUNCATION_TOLERANCE = (0.02, 0.1)


class FileSource(AudioSource):
    """Audio of a file: wav/flac/ogg/mp3 through soundfile, other containers (video files) through PyAV.

    A file that decodes shorter than its header declares (damaged or truncated)
    raises :class:`AudioSourceError` at its end, naming the file and both
    durations; with ``allow_truncated=True`` it is logged as a warning instead.
    A file without any samples is an error either way.
    """

    def __init__(
        self, path: str | Path, *, chunk_ms: float = 20.0, allow_truncated: bool = False, **kw: int | None
    ) -> None:
        super().__init__(**kw)
        self.path = Path(path)
        self.name = str(self.path)
        if self.path.is_dir():
            raise AudioSourceError(f"audio {self.path} is a directory, not an audio file")
        if not self.path.is_file():
            raise AudioSourceError(f"audio file not found: {self.path}")
        self._chunk_ms = chunk_ms
        self.allow_truncated = allow_truncated
        #: Samples the file's header declares (None when it does not say).
        self.declared_samples: int | None = None
        self._rate, self._reader = self._open()

    def _open(self) -> tuple[int, str]:
        if self.path.suffix.lower() not in _VIDEO_SUFFIXES:
            import soundfile as sf

            try:
                info = sf.info(str(self.path))
            except (sf.LibsndfileError, RuntimeError):
                pass
            else:
                declared = _wav_declared_samples(self.path) if info.format == "WAV" else None
                self.declared_samples = declared if declared is not None else (int(info.frames) or None)
                return int(info.samplerate), "soundfile"
        try:
            import av
        except ImportError as e:
            raise AudioSourceError(f"{self.path}: format needs PyAV (pip install av)") from e
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.audio:
                    raise AudioSourceError(f"{self.path}: no audio stream")
                stream = container.streams.audio[0]
                rate = int(stream.rate)
                if stream.duration is not None and stream.time_base is not None:
                    self.declared_samples = round(float(stream.duration * stream.time_base) * rate)
                elif container.duration:
                    self.declared_samples = round(container.duration / 1e6 * rate)
                return rate, "av"
        except av.error.FFmpegError as e:
            raise AudioSourceError(f"{self.path}: cannot decode audio ({e})") from e

    @property
    def sample_rate(self) -> int:
        """Sample rate of the chunks (Hz)."""
        return self._rate

    def _blocks(self) -> Iterator[np.ndarray]:
        step = max(1, round(self._chunk_ms * self._rate / 1000))
        decoded = 0
        try:
            for block in self._decoded(step):
                decoded += len(block)
                yield block
        except AudioSourceError:
            raise
        except (RuntimeError, OSError, ValueError) as e:  # the decoder's own errors (libsndfile, FFmpeg)
            raise AudioSourceError(
                f"{self.path}: audio decoding failed after {decoded / self._rate:.2f} s ({type(e).__name__}: {e})"
            ) from e
        self._check_length(decoded)

    def _decoded(self, step: int) -> Iterator[np.ndarray]:
        if self._reader == "soundfile":
            import soundfile as sf

            with sf.SoundFile(str(self.path)) as f:
                while len(block := f.read(step, dtype="float32", always_2d=True)):
                    yield block
            return
        yield from _rechunk(self._av_blocks(), step)

    def _check_length(self, decoded: int) -> None:
        if decoded == 0:
            raise AudioSourceError(f"{self.path}: no audio samples (an empty or header-only file)")
        declared = self.declared_samples
        frac, secs = TRUNCATION_TOLERANCE
        if declared is None or declared - decoded <= max(frac * declared, secs * self._rate):
            return
        msg = (
            f"{self.path}: decoded {decoded / self._rate:.2f} s of audio but the file declares "
            f"{declared / self._rate:.2f} s (damaged or truncated)"
        )
        if not self.allow_truncated:
            raise AudioSourceError(msg + "; repair the file, or accept the shorter audio with --allow-truncated")
        log.warning("%s; using the %.2f s decoded (allow_truncated)", msg, decoded / self._rate)

    def _av_blocks(self) -> Iterator[np.ndarray]:
        import av

        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                if frame.rate != self._rate:
                    raise AudioSourceError(f"{self.path}: sample rate changes mid-stream ({frame.rate} Hz)")
                a = frame.to_ndarray()
                planar = frame.format.is_planar
                channels = len(frame.layout.channels)
                a = a.reshape(channels, -1).T if planar else a.reshape(-1, channels)
                if a.dtype.kind == "i":
                    a = a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max + 1)
                yield a.astype(np.float32, copy=False)


def _wav_declared_samples(path: Path) -> int | None:
    """Samples a RIFF/WAVE header declares in its ``data`` chunk (None when it does not say or cannot be read).

    libsndfile trims a truncated file's length to the bytes present, so the header is read here.
    """
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = 0
            while len(hdr := f.read(8)) == 8:
                cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(size + size % 2)
                    block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else 0
                    continue
                if cid == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):  # unknown: streamed or RF64
                        return None
                    return size // block_align
                f.seek(size + size % 2, 1)
    except OSError:
        return None
    return None


def _rechunk(blocks: Iterator[np.ndarray], step: int) -> Iterator[np.ndarray]:
    """Regroup (N, C) blocks of any size into blocks of ``step`` rows (the last may be shorter)."""
    pending: list[np.ndarray] = []
    have = 0
    for b in blocks:
        pending.append(b)
        have += len(b)
        if have >= step:
            buf = np.concatenate(pending)
            cut = have - have % step
            yield from (buf[i : i + step] for i in range(0, cut, step))
            pending, have = [buf[cut:]], have - cut
    if have:
        yield np.concatenate(pending)
