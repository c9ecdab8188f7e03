"""The live window worker of the learned sources (motion/sources/base.py): its failure reaches the motion stage."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pyavatar.face.params import NAMES
from pyavatar.motion.sources.base import WindowedSource, WindowEngine
from pyavatar.packets import NS_PER_S, AudioChunk
from tests.runtime.helpers import pyavatar_threads

RATE = 16_000


class OneFramePerPush(WindowEngine):
    """One neutral frame per push; the push numbered ``fail_at`` raises."""

    fps = 25.0
    name = "fake"
    controls = frozenset()

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.pushes = 0

    def push(self, samples: np.ndarray) -> list:
        if self.pushes == self.fail_at:
            raise ValueError(f"window {self.pushes} exploded")
        self.pushes += 1
        return [(self.pushes - 1, np.zeros((1, len(NAMES)), np.float32), None, None, np.array([-20.0]))]

    def finish(self) -> list:
        return []

    def reset(self) -> None:
        pass


def _chunk(i: int) -> AudioChunk:
    return AudioChunk(i * NS_PER_S // 100, RATE, np.zeros(RATE // 100, np.float32))


def test_live_worker_runs_windows_in_its_own_thread_and_stops() -> None:
    source = WindowedSource(OneFramePerPush(fail_at=-1), latency_s=0.04)
    frames = [f for i in range(3) for f in source.process(_chunk(i), live=True)]
    assert "pyavatar-motion-fake" in pyavatar_threads()
    frames += source.flush()
    source.close()
    assert [f.index for f in frames] == [0, 1, 2] and all(f.capture_ns > 0 for f in frames)
    assert "pyavatar-motion-fake" not in pyavatar_threads()
    assert source.process(_chunk(3), live=True) == []  # closed: nothing restarts the thread


def test_live_worker_failure_is_raised_by_the_motion_stage_and_close_is_clean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = WindowedSource(OneFramePerPush(fail_at=1), latency_s=0.04)
    source.process(_chunk(0), live=True)
    source.process(_chunk(1), live=True)  # the worker's second window raises
    for call in (source.flush, lambda: source.process(_chunk(2), live=True)):  # every later call says so
        with pytest.raises(RuntimeError, match="motion source 'fake' failed: window 1 exploded") as err:
            call()
        assert isinstance(err.value.__cause__, ValueError)
    with caplog.at_level(logging.ERROR, logger="pyavatar.motion.sources.base"):
        source.close()  # reported already: nothing raised or logged again
    assert not caplog.records and "pyavatar-motion-fake" not in pyavatar_threads()
