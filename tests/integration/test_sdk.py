"""The SDK end to end with the probe renderer: offline and live sessions, controls, renderer swaps, registry."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from pyavatar import Avatar, Session
from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.face.params import NAMES, FaceParams
from pyavatar.render.probe import ProbeRenderer, read_jaw
from pyavatar.render.registry import RendererUnavailable, make_renderer, register_renderer, renderer_names
from tests.runtime.helpers import pyavatar_threads

JAW = NAMES.index("jaw_open")


class InvertedProbe(ProbeRenderer):
    """A second renderer for swap tests: the probe, colour-inverted outside the jaw cell."""

    name = "inverted-probe"

    def render_params(self, prepared: Any, params: FaceParams) -> np.ndarray:
        out = super().render_params(prepared, params)
        out[:, 32:] = 255 - out[:, 32:]
        return out


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    return x[: round(4.0 * rate)], rate


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=128)


def test_offline_feed_audio_matches_frames_of_a_file(avatar: Avatar, speech: tuple[np.ndarray, int]) -> None:
    x, rate = speech
    s = avatar.session(fps=25)
    frames = []
    for i in range(0, len(x), 4410):  # 0.2 s blocks
        frames += s.feed_audio(x[i : i + 4410], rate)
    frames += s.end_audio()
    assert len(frames) == math.ceil(len(x) / rate * 25)
    assert [f.index for f in frames] == list(range(len(frames)))
    again = list(avatar.session(fps=25).frames(iter(_chunks(x, rate))))
    assert len(again) == len(frames)
    assert all(np.array_equal(a.motion.params, b.motion.params) for a, b in zip(frames, again, strict=True)), (
        "deterministic"
    )
    jaw = np.array([read_jaw(f.image) for f in frames])
    assert np.allclose(jaw, [f.motion.params[JAW] for f in frames], atol=1 / 255 + 1e-6)
    assert jaw.max() > 0.3 and jaw[:5].max() < 0.05  # closed in the leading silence, open while speaking


def _chunks(x: np.ndarray, rate: int, ms: float = 20.0):
    from pyavatar.audio.sources import ArraySource

    return ArraySource(x, rate, chunk_ms=ms)


def test_motion_rate_below_output_rate_is_interpolated(avatar: Avatar, speech: tuple[np.ndarray, int]) -> None:
    x, rate = speech
    s = avatar.session(fps=50, motion_fps=25)
    frames = list(s.frames(_chunks(x, rate)))
    assert len(frames) == math.ceil(len(x) / rate * 50)
    jaw = np.array([f.motion.params[JAW] for f in frames])
    assert np.abs(np.diff(jaw)).max() < 0.5


def test_offline_controls_and_stats(avatar: Avatar, speech: tuple[np.ndarray, int]) -> None:
    x, rate = speech
    s = avatar.session(fps=25)
    s.feed_audio(x[:rate], rate)
    s.set_lip_scale(0.0)
    s.set_emotion("happy", 0.8)
    s.set_gaze(20.0, -10.0)
    later = s.feed_audio(x[rate:], rate) + s.end_audio()
    assert all(f.motion.params[JAW] == 0.0 for f in later)
    assert later[-1].motion.emotion == "happy" and later[-1].motion.params[NAMES.index("happy")] > 0.3
    assert later[-1].motion.params[NAMES.index("gaze_yaw")] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="unknown emotion"):
        s.set_emotion("ecstatic")
    assert s.stats()["frames_out"] == math.ceil(len(x) / rate * 25)


def test_live_push_session_with_controls_and_swap(avatar: Avatar, speech: tuple[np.ndarray, int]) -> None:
    x, rate = speech
    got: list[Any] = []
    with avatar.session(fps=30) as s:
        s.on_motion(lambda m: got.append(m))
        s.start(sample_rate=rate)

        def feed() -> None:  # an application pushing audio in real time (20 ms blocks)
            step = rate // 50
            t0 = time.monotonic()
            for k, i in enumerate(range(0, len(x), step)):
                s.feed_audio(x[i : i + step], rate)
                time.sleep(max(0.0, t0 + (k + 1) * 0.02 - time.monotonic()))
            s.end_audio()

        feeder = threading.Thread(target=feed)
        feeder.start()
        frames = []
        swapped = False
        for f in s.frames():
            frames.append(f)
            if len(frames) == 40 and not swapped:
                s.set_renderer("tests.integration.test_sdk:InvertedProbe", size=128)
                s.set_emotion("sad")
                swapped = True
        feeder.join()
        stats = s.stats()
    assert pyavatar_threads() == []
    new = [f for f in frames if not f.repeat and f.index >= 0]
    assert len(new) > 80 and stats["latency_frames"] >= len(new)
    assert 0 < stats["p95_ms"] and stats["pushed_audio_dropped"] == 0  # latency itself: benchmarks/LIVE.md
    assert frames[-1].image[100, 100].tolist() != frames[10].image[100, 100].tolist()  # inverted after the swap
    assert got[-1].emotion == "sad" and got[0].emotion == "neutral"
    with pytest.raises(ValueError, match="renders 64x64"):
        avatar.session().set_renderer("probe", size=64)


def test_registry() -> None:
    assert {"classical", "probe"} <= set(renderer_names())
    assert isinstance(make_renderer("probe"), ProbeRenderer)
    with pytest.raises(ValueError, match="unknown renderer 'nope'"):
        make_renderer("nope")
    with pytest.raises(RendererUnavailable, match="cannot import no_such_module"):
        make_renderer("no_such_module:Thing")
    register_renderer("not-a-renderer", lambda: object())
    with pytest.raises(TypeError, match="lacks prepare"):
        make_renderer("not-a-renderer")
    register_renderer("inverted", "tests.integration.test_sdk:InvertedProbe", "test")
    assert make_renderer("inverted").name == "inverted-probe"


def test_classical_is_the_default_renderer() -> None:
    assert make_renderer().name == "classical"


def test_session_type_is_exported() -> None:
    assert Session.__name__ == "Session" and Avatar.__module__ == "pyavatar.sdk.avatar"
