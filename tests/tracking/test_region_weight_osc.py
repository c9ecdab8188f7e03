"""Hybrid region weights over OSC: ``/pyavatar/set/region_weight s f`` on real UDP (loopback) reaches the
mixer of a running session; unknown regions, out-of-range or non-finite weights, a missing weight and the
``video`` source (no regions) are refused, each with its reason."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pyavatar.motion.registry import UnsupportedControl, make_motion_source
from pyavatar.outputs import osc
from pyavatar.tracking.tracker import TrackerSettings
from tests.tracking.conftest import FPS, LEAD

QUICK = TrackerSettings(calibrate_s=LEAD / FPS)


def _send(session, tx: socket.socket, address: str, *args: float | str) -> str:  # noqa: ANN001
    """Send one message to the session's control server; its last error once it was handled."""
    before = session.stats()["control"]["received"]
    tx.sendto(osc.message(address, *args), session.control_address)
    deadline = time.monotonic() + 10.0
    while session.stats()["control"]["received"] == before and time.monotonic() < deadline:
        time.sleep(0.01)
    return session._control.last_error


def test_region_weight_over_udp_reaches_the_hybrid_mixer(rendered, tmp_path: Path) -> None:
    import soundfile as sf

    from pyavatar.bench.tracking import portrait_image
    from pyavatar.sdk import Avatar
    from tests.motion.fixture_models import speech

    _, video = rendered("astronaut")
    sf.write(tmp_path / "speech.wav", speech(6.0, seed=5), 16_000)
    avatar = Avatar.from_image(portrait_image("grace_hopper"), renderer="probe")
    frames = [(i / FPS, f) for i, f in enumerate(video)]
    options = {"frames": frames, "fallback": False, "tracker": QUICK}
    with (
        avatar.session(fps=30, motion="hybrid", motion_options=options) as s,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        s.start(file=tmp_path / "speech.wav", control=0)
        mixer = s.motion.source.video.hybrid
        assert mixer.weights["mouth"] == 0.0 and mixer.weights["brows"] == 1.0  # the defaults
        assert _send(s, tx, "/pyavatar/set/region_weight", "mouth", 1) == ""
        assert _send(s, tx, "/pyavatar/set/region_weight", "brows", 0.25) == ""
        assert "unknown face region 'nose'; regions: head, eyes, brows, mouth, expression" in _send(
            s, tx, "/pyavatar/set/region_weight", "nose", 0.5
        )
        assert "region weight head must be within 0.0..1.0, got 1.5" in _send(
            s, tx, "/pyavatar/set/region_weight", "head", 1.5
        )
        assert "must be finite" in _send(s, tx, "/pyavatar/set/region_weight", "head", float("nan"))
        assert "expected a region name and a weight" in _send(s, tx, "/pyavatar/set/region_weight", "eyes")
        deadline = time.monotonic() + 10.0
        while mixer.weights["brows"] != 0.25 and time.monotonic() < deadline:  # applied from the next frame
            time.sleep(0.01)
        control = s.stats()["control"]
        weights = dict(mixer.weights)
    assert weights["mouth"] == 1.0 and weights["brows"] == 0.25 and weights["head"] == 1.0  # head untouched
    assert control["applied"] == 2 and control["malformed"] == 4


def test_the_video_source_refuses_region_weights_naming_the_hybrid_source(rendered) -> None:
    _, video = rendered("astronaut")
    source = make_motion_source("video", fps=FPS, frames=[(i / FPS, f) for i, f in enumerate(video)], tracker=QUICK)
    try:
        with pytest.raises(UnsupportedControl, match=r"'video' has no region weights.*--motion hybrid"):
            source.check_control("region_weight", {"region": "mouth", "weight": 1.0})
    finally:
        source.close()
