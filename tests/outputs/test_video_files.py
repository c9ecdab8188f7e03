"""Video files (H.264 + AAC, ProRes/VP9 with alpha) and PNG sequences: duration, A/V alignment, audio intact."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="video files need PyAV")
sf = pytest.importorskip("soundfile")

from pyavatar import Avatar  # noqa: E402
from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH  # noqa: E402
from pyavatar.render.probe import read_jaw  # noqa: E402


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3.2 s of the demo speech at 16 kHz as WAV."""
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    from pyavatar.audio.resample import Resampler
    from pyavatar.packets import AudioChunk

    r = Resampler(rate, 16000)
    parts = [r.process(AudioChunk(0, rate, x[: round(3.2 * rate)])), r.flush()]
    y = np.concatenate([p.samples for p in parts if p is not None])
    path = tmp_path_factory.mktemp("speech") / "speech16k.wav"
    sf.write(path, y, 16000)
    return path


def _probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
    with av.open(str(path)) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(a)]) if a else None
        rate = a.rate if a else 0
        codecs = (c.streams.video[0].codec_context.name, a.codec_context.name if a else None)
    return {"frames": frames, "audio": audio, "rate": rate, "codecs": codecs}


def test_mp4_has_the_audio_duration_and_its_audio_intact(tmp_path: Path, speech: Path) -> None:
    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=128)
    out = tmp_path / "talk.mp4"
    fps = 30
    result = avatar.render(speech, out, fps=fps)
    src, rate = sf.read(speech, dtype="float32")
    duration = len(src) / rate
    info = _probe(out)
    assert info["codecs"] == ("h264", "aac")
    n = len(info["frames"])
    assert n == result.frames == math.ceil(duration * fps)
    assert abs(n / fps - duration) <= 1 / fps
    decoded = info["audio"]
    assert info["rate"] == 16000 and abs(len(decoded) - len(src)) <= rate / fps  # within one frame of audio
    m = min(len(decoded), len(src))
    lag = np.argmax(np.correlate(decoded[:m][4000:12000], src[:m][4000:12000], "full")) - 7999
    assert lag == 0, "audio starts with the first frame (no priming offset)"
    assert np.corrcoef(decoded[:m], src[:m])[0, 1] > 0.98
    # the rendered mouth follows the audio it is muxed with: jaw high where the audio is loud
    jaw = np.array([read_jaw(f) for f in info["frames"]])
    env = np.array([np.abs(src[round(i * rate / fps) : round((i + 1) * rate / fps)]).max() for i in range(n)])
    assert np.corrcoef(jaw, env)[0, 1] > 0.5


def test_png_sequence_and_resampled_audio_formats(tmp_path: Path) -> None:
    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=64)
    frames_dir = tmp_path / "frames"
    result = avatar.render(DEMO_SPEECH, frames_dir, fps=25)
    files = sorted(frames_dir.glob("frame_*.png"))
    assert len(files) == result.frames == math.ceil(sf.info(str(DEMO_SPEECH)).duration * 25)
    webm = tmp_path / "talk.webm"
    avatar.render(DEMO_SPEECH, webm, fps=25)  # 22.05 kHz speech: resampled to 24 kHz for Opus
    info = _probe(webm)
    assert info["codecs"] == ("vp9", "opus") and len(info["frames"]) == result.frames


def test_alpha_needs_an_rgba_portrait_and_a_container_with_alpha(tmp_path: Path, speech: Path) -> None:
    rgba = np.zeros((96, 97, 4), np.uint8)  # odd width: padded to even for 4:2:0 video
    rgba[..., 0] = 180
    rgba[20:80, 20:80, 3] = 255
    avatar = Avatar.from_image(rgba, renderer="probe")
    mov = tmp_path / "alpha.mov"
    avatar.render(speech, mov, alpha=True)
    with av.open(str(mov)) as c:
        assert c.streams.video[0].codec_context.name == "prores"
        first = next(c.decode(video=0)).to_ndarray(format="rgba")
    assert first[50, 50, 3] > 250 and first[5, 5, 3] < 5
    pngs = tmp_path / "alpha_png"
    avatar.render(speech, pngs, alpha=True)
    from PIL import Image

    assert Image.open(sorted(pngs.iterdir())[0]).mode == "RGBA"
    mp4 = avatar.render(speech, tmp_path / "odd.mp4")
    assert mp4.size == (98, 96)  # as written: H.264 4:2:0 needs even sides (the last column repeated)
    with pytest.raises(ValueError, match="cannot hold alpha"):
        avatar.render(speech, tmp_path / "alpha.mp4", alpha=True)
    opaque = Avatar.from_image(rgba[..., :3].copy(), renderer="probe")
    with pytest.raises(ValueError, match="no alpha channel"):
        opaque.render(speech, tmp_path / "x.mov", alpha=True)
    with pytest.raises(ValueError, match="video file"):
        opaque.render(speech, tmp_path / "x.gif")
