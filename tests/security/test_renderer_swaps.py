"""Renderer swaps: prepared off the control thread, one at a time, newest wins, rate-limited; nothing leaks."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT
from pyavatar.outputs import osc
from pyavatar.render.probe import ProbeRenderer
from pyavatar.render.registry import register_renderer
from tests.runtime.helpers import pyavatar_threads
from tests.security.test_osc_control import _LiveSession


class _Recorder:
    """Counts concurrent preparations and the threads they ran in."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.threads: set[str] = set()
        self.names: list[str] = []


REC = _Recorder()


class SlowProbe(ProbeRenderer):
    """A probe renderer whose preparation takes a while and is recorded."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.name = tag

    def prepare(self, image: Any, **kw: Any) -> Any:
        with REC.lock:
            REC.active += 1
            REC.max_active = max(REC.max_active, REC.active)
            REC.threads.add(threading.current_thread().name)
            REC.names.append(self.name)
        try:
            time.sleep(0.05)
            return super().prepare(image, **kw)
        finally:
            with REC.lock:
                REC.active -= 1


for _tag in ("swap-a", "swap-b", "swap-last"):
    register_renderer(_tag, lambda tag=_tag: SlowProbe(tag), "test: slow probe")


def _wait(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_control_swaps_are_coalesced_off_the_control_thread_newest_wins() -> None:
    live = _LiveSession(Avatar.from_image(DEMO_PORTRAIT, renderer="probe"))  # pushed silence, control on
    session, server = live.session, live.server
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(99):  # the reproduction: a burst of swap requests
                tx.sendto(osc.message("/pyavatar/set/renderer", "swap-a" if i % 2 else "swap-b"), server.address)
            tx.sendto(osc.message("/pyavatar/set/renderer", "swap-last"), server.address)
            _wait(lambda: server.received == 100)
        assert server.applied == 100 and server.malformed == 0
        assert session._swapper is not None and session._swapper.idle(20.0)
        swaps = session.stats()["renderer_swaps"]
        assert swaps["requested"] == 100 and swaps["failed"] == 0
        assert swaps["applied"] + swaps["superseded"] == 100
        assert swaps["applied"] <= 3  # rate-limited and coalesced, not 100 preparations
        assert REC.max_active == 1 and REC.threads == {"pyavatar-renderer-swap"}
        assert REC.names[-1] == "swap-last"
        _wait(lambda: session.stage.renderer.name == "swap-last")  # the newest request won
    finally:
        live.close()
    assert pyavatar_threads() == []


def _handles() -> int:
    return len(os.listdir("/proc/self/fd"))


def _mediapipe_graphs() -> int:
    """Live MediaPipe solution graphs (face detection, face mesh) in this process."""
    from mediapipe.python.solution_base import SolutionBase

    with warnings.catch_warnings():  # touching every object trips torch's deprecated-alias FutureWarnings
        warnings.simplefilter("ignore", FutureWarning)
        return sum(1 for o in gc.get_objects() if isinstance(o, SolutionBase))


@pytest.mark.slow
def test_repeated_classical_swaps_release_their_resources() -> None:
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(DEMO_PORTRAIT).convert("RGB"))
    gc.collect()
    before = _mediapipe_graphs()  # graphs other code in this process still holds (the count is process-wide)
    avatar = Avatar.from_image(image[::2, ::2].copy(), renderer="classical")
    session = avatar.session(fps=30)
    session.start(sample_rate=16_000)
    try:
        counts = []
        for _ in range(6):  # the reproduction: every swap used to keep a MediaPipe face-landmark backend
            session.set_renderer("classical")
            gc.collect()
            counts.append((_mediapipe_graphs(), _handles(), threading.active_count()))
        assert counts[0][0] == before and counts[-1] == counts[1]
    finally:
        session.stop()  # returns (it used to hang with the leaked backends)
    assert pyavatar_threads() == []
