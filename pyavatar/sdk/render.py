"""Offline rendering of an audio file to a video file (with the audio) or a PNG sequence.

:meth:`pyavatar.sdk.avatar.Avatar.render` calls :func:`render_file`; this module
does not import the avatar module (it needs only what :class:`AvatarLike` names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pyavatar.audio.resample import Resampler
from pyavatar.audio.sources import FileSource
from pyavatar.outputs.video import _CONTAINERS, PngSequenceSink, VideoFileSink, audio_rates, check_output
from pyavatar.packets import AudioChunk
from pyavatar.render.base import FaceRenderer


@dataclass(frozen=True)
class RenderResult:
    """What an offline render produced."""

    output: Path
    frames: int
    fps: float
    audio_seconds: float
    elapsed_seconds: float
    renderer: str
    size: tuple[int, int]

    @property
    def video_seconds(self) -> float:
        """Length of the video."""
        return self.frames / self.fps


class AvatarLike(Protocol):
    """What :func:`render_file` uses of an :class:`~pyavatar.sdk.avatar.Avatar`."""

    @property
    def renderer(self) -> FaceRenderer:
        """The renderer the portrait was prepared for."""
        ...

    def session(self, **options: Any) -> Any:
        """A new :class:`~pyavatar.sdk.avatar.Session` on the portrait."""
        ...


def _at_rate(source: FileSource, rates: tuple[int, ...]) -> Iterator[AudioChunk]:
    """The file's chunks at its own rate when the codec takes it, else resampled to the best higher rate."""
    if source.sample_rate in rates:
        yield from source
        return
    target = min((r for r in rates if r >= source.sample_rate), default=max(rates))
    resampler = Resampler(source.sample_rate, target)
    for chunk in source:
        out = resampler.process(chunk)
        if out is not None:
            yield out
    tail = resampler.flush()
    if tail is not None:
        yield tail


def output_sink(
    output: str | Path, audio: str | Path | None, *, alpha: bool = False, crf: int = 20, allow_truncated: bool = False
) -> Any:
    """A :class:`VideoFileSink` for a video path (muxing ``audio``), else a :class:`PngSequenceSink` for a folder."""
    out = check_output(output, [audio])
    if out.suffix.lower() in _CONTAINERS:
        src = FileSource(audio, allow_truncated=allow_truncated) if audio is not None else None
        chunks = _at_rate(src, audio_rates(out)) if src is not None else None
        return VideoFileSink(out, audio=chunks, alpha=alpha, crf=crf)
    if out.suffix:
        raise ValueError(
            f"output {out}: use a video file ({', '.join(sorted(_CONTAINERS))}) or a folder for PNG frames"
        )
    return PngSequenceSink(out, alpha=alpha)


def render_file(
    avatar: AvatarLike,
    audio: str | Path,
    output: str | Path,
    *,
    fps: float = 30.0,
    alpha: bool = False,
    crf: int = 20,
    progress: Callable[[float], None] | None = None,
    allow_truncated: bool = False,
    **session_options: Any,
) -> RenderResult:
    """Render speech ``audio`` with ``avatar`` to ``output``.

    Args:
        avatar: the prepared portrait (:class:`~pyavatar.sdk.avatar.Avatar`).
        audio: a speech file (wav, flac, ogg, mp3, or the audio track of a video file).
        output: ``.mp4``/``.m4v``/``.mkv`` (H.264 + AAC), ``.mov``/``.webm`` (also with ``alpha``), or a folder
            for PNG frames.
        fps: frame rate.
        alpha: keep the portrait's alpha channel (needs an RGBA portrait and .mov, .webm or PNG).
        crf: video quality (lower is better).
        progress: called with the seconds of audio done after every chunk.
        allow_truncated: render audio that decodes shorter than its header declares (a warning, not an error).
        session_options: :class:`~pyavatar.sdk.avatar.Session` options (emotion, lip_scale, ...).
    """
    source = FileSource(audio, allow_truncated=allow_truncated)
    import soundfile as sf

    try:
        seconds = float(sf.info(str(audio)).duration)
    except RuntimeError:  # not a soundfile format: count the decoded samples
        seconds = sum(len(c.samples) for c in FileSource(audio, allow_truncated=allow_truncated)) / source.sample_rate
    sink = output_sink(output, audio, alpha=alpha, crf=crf, allow_truncated=allow_truncated)
    session = avatar.session(fps=fps, outputs=[sink], **session_options)
    t0 = time.perf_counter()
    frames = session.render_file(source, progress)
    size = getattr(sink, "size", None) or (session.width, session.height)  # as encoded (x264 pads odd sizes)
    return RenderResult(Path(output), frames, fps, seconds, time.perf_counter() - t0, avatar.renderer.name, size)
