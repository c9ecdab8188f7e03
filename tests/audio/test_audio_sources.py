"""Audio sources: files of every supported kind, arrays, pushed audio, channel handling, bad samples."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pyavatar.audio.sources import (
    ArraySource,
    AudioSourceError,
    FileSource,
    PushSource,
    to_mono,
)
from pyavatar.packets import NS_PER_S

sf = pytest.importorskip("soundfile")


def _tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    cols = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def _collect(source) -> tuple[np.ndarray, list[int]]:
    chunks = list(source)
    return np.concatenate([c.samples for c in chunks]), [c.pts_ns for c in chunks]


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_file_formats_decode_to_mono_chunks(tmp_path: Path, fmt: str) -> None:
    audio = _tone(44100, 0.5, channels=2)
    path = tmp_path / f"a.{fmt}"
    sf.write(path, audio, 44100)
    src = FileSource(path, chunk_ms=20)
    assert src.sample_rate == 44100
    samples, pts = _collect(src)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - len(audio)) < 44100 * 0.1  # lossy codecs pad a little
    assert pts[0] == 0 and pts[1] == round(882 * NS_PER_S / 44100)
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(samples, audio.mean(axis=1), atol=1e-4)


def test_video_file_audio_track(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    rate = 48000
    audio = _tone(rate, 1.0, channels=2)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        ast = out.add_stream("aac", rate=rate, layout="stereo")
        for i in range(25):
            img = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")
            out.mux(vs.encode(img))
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T), format="fltp", layout="stereo")
        frame.sample_rate = rate
        out.mux(ast.encode(frame))
        out.mux(ast.encode(None))
        out.mux(vs.encode(None))
    src = FileSource(path, channel=1)
    samples, _ = _collect(src)
    assert src.sample_rate == rate
    assert 0.9 * rate < len(samples) < 1.2 * rate
    # channel 1 holds the 330 Hz tone: check its dominant frequency
    spec = np.abs(np.fft.rfft(samples[: rate // 2]))
    assert abs(np.argmax(spec) * 2 - 330) <= 4


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(AudioSourceError, match="not found"):
        FileSource(tmp_path / "nope.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioSourceError, match="junk.wav"):
        FileSource(junk)


def test_channel_pick_downmix_and_range() -> None:
    block = np.array([[0.2, -0.4], [0.6, 0.0]], np.float32)
    np.testing.assert_allclose(to_mono(block, None), [-0.1, 0.3])
    np.testing.assert_allclose(to_mono(block, 1), [-0.4, 0.0])
    with pytest.raises(ValueError, match="channel=2"):
        to_mono(block, 2)


def test_nonfinite_replaced_and_clipping_counted() -> None:
    x = np.zeros(1000, np.float32)
    x[10], x[20], x[30] = np.nan, np.inf, -np.inf
    x[40:45] = 1.7
    src = ArraySource(x, 16000)
    samples, _ = _collect(src)
    assert np.isfinite(samples).all() and samples.max() <= 1.0
    assert samples[10] == 0 and samples[20] == 0
    assert src.stats.nonfinite == 3 and src.stats.clipped == 5 and src.stats.samples == 1000


def test_push_source_from_another_thread() -> None:
    src = PushSource(8000, max_chunks=2, channel=0)
    data = _tone(8000, 0.5, channels=2)

    def producer() -> None:
        for i in range(0, len(data), 400):
            src.push(data[i : i + 400])
        src.end()

    th = threading.Thread(target=producer)
    th.start()
    samples, pts = _collect(src)
    th.join()
    np.testing.assert_array_equal(samples, data[:, 0])
    assert pts == [round(i * NS_PER_S / 8000) for i in range(0, len(data), 400)]
    with pytest.raises(AudioSourceError, match="after end"):
        src.push(data[:10])


def test_push_source_full_queue_times_out() -> None:
    src = PushSource(16000, max_chunks=1, timeout=0.05)
    src.push(np.zeros(10, np.float32))
    with pytest.raises(AudioSourceError, match="did not read"):
        src.push(np.zeros(10, np.float32))
