"""Stopping is a normal event: live sessions on a file source stopped at random moments raise nothing."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.runtime import control as ctl
from tests.runtime.helpers import pyavatar_threads

SESSIONS = 50


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    path = tmp_path_factory.mktemp("stop") / "clip.wav"
    sf.write(path, x[: round(0.8 * rate)], rate)
    return path


def _consume(session: Any, got: list[int]) -> None:
    for _ in session.frames():
        got[0] += 1


@pytest.mark.slow
def test_fifty_sessions_stopped_at_random_moments_raise_nothing(avatar: Avatar, clip: Path) -> None:
    rng = random.Random(10)
    errors: list[str] = []
    for i in range(SESSIONS):
        how = i % 3
        got = [0]
        consumer: threading.Thread | None = None
        try:
            if how == 2:  # a `with` block left early
                with avatar.session(fps=30) as s:
                    s.start(file=clip)
                    time.sleep(rng.uniform(0.0, 0.8))
            else:
                s = avatar.session(fps=30)
                s.start(file=clip)
                if how == 1:
                    consumer = threading.Thread(target=_consume, args=(s, got))
                    consumer.start()
                time.sleep(rng.uniform(0.0, 0.8))  # sometimes before the file ends, sometimes after
                s.stop()
                s.stop()  # idempotent
        except Exception as e:  # the test counts every failure instead of stopping at the first
            errors.append(f"session {i}: {type(e).__name__}: {e}")
        if consumer is not None:
            consumer.join(5.0)
            if consumer.is_alive():
                errors.append(f"session {i}: frames() did not end after stop()")
    assert errors == []
    assert pyavatar_threads() == []


def test_frames_end_after_a_stop_event(avatar: Avatar, clip: Path) -> None:
    s = avatar.session(fps=30)
    s.start(sample_rate=16_000)  # pushed audio: the stream never ends by itself
    got = [0]
    consumer = threading.Thread(target=_consume, args=(s, got))
    consumer.start()
    time.sleep(0.3)
    s.send(ctl.Stop())
    assert s.wait(2.0)
    consumer.join(2.0)  # drains what was produced, then ends (it used to keep yielding until stop())
    at_stop = got[0]
    assert not consumer.is_alive()
    time.sleep(0.3)
    assert got[0] == at_stop
    s.stop()
    assert pyavatar_threads() == []
