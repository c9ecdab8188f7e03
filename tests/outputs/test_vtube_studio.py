"""The VTube Studio plugin client against a local WebSocket server written from the API documentation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("websockets", reason="the VTube Studio client needs websockets (pip install pyavatar[vts])")

from pyavatar.face.mappings import VTS_NAMES
from pyavatar.face.params import NAMES
from pyavatar.outputs.vtube_studio import TokenStore, VTubeStudioDenied, VTubeStudioSink
from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo
from tests.outputs.vts_server import FakeVTubeStudio

INFO = StreamInfo(64, 64, 30.0)


def _frame(emotion: str = "neutral", intensity: float = 0.0, **fields: float) -> MotionFrame:
    p = np.zeros(len(NAMES), np.float32)
    for k, v in fields.items():
        p[NAMES.index(k)] = v
    return MotionFrame(0, 0, 30.0, 0, p, np.array([0.6, 0, 0, 0, 0], np.float32), 1.0, emotion, intensity)


def _wait(cond: Callable[[], bool], timeout: float = 8.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_auth_inject_token_reuse_and_hotkeys(tmp_path: Path) -> None:
    tokens = tmp_path / "cfg" / "tokens.json"
    server = FakeVTubeStudio(parameters=tuple(n for n in VTS_NAMES if n != "VoiceFrequencyPlusMouthSmile")).start()
    try:
        sink = VTubeStudioSink(server.url, rate=20.0, token_path=tokens, hotkeys={"happy": "Smile", "sad": "Nope"})
        sink.start(INFO)
        assert _wait(sink.connected.is_set)
        sink.write_motion(_frame(jaw_open=0.7, head_roll=10.0, blink_left=1.0))
        assert _wait(
            lambda: any(d["parameterValues"][6]["value"] > 0.6 for _, d in server.of("InjectParameterDataRequest"))
        )
        sink.write_motion(_frame("happy", 0.8, jaw_open=0.7))
        assert _wait(lambda: len(server.of("HotkeyTriggerRequest")) == 1)
        sink.write_motion(_frame("neutral", 0.0))
        assert _wait(lambda: len(server.of("HotkeyTriggerRequest")) == 2)  # the toggle hotkey is turned off
        sink.write_motion(_frame("sad", 0.9))  # a hotkey the model lacks: VTS answers error 202, injection goes on
        assert _wait(lambda: sink.last_error is not None and "202" in sink.last_error)
        n = len(server.of("InjectParameterDataRequest"))
        assert _wait(lambda: len(server.of("InjectParameterDataRequest")) > n + 3)
        sink.close()
    finally:
        server.stop()
    assert [k for _, k, _ in server.received[:4]] == [
        "AuthenticationTokenRequest",
        "AuthenticationRequest",
        "InputParameterListRequest",
        "InjectParameterDataRequest",
    ]
    stored = json.loads(tokens.read_text())
    assert stored[server.url] in server.tokens and (tokens.stat().st_mode & 0o777) == 0o600
    assert sink.dropped == ["VoiceFrequencyPlusMouthSmile"] and server.errors == [202]
    inject = next(d for _, d in reversed(server.of("InjectParameterDataRequest")) if d["parameterValues"][6]["value"])
    values = {v["id"]: v["value"] for v in inject["parameterValues"]}
    assert inject["mode"] == "set" and inject["faceFound"] is True
    assert set(values) == set(VTS_NAMES) - {"VoiceFrequencyPlusMouthSmile"}
    assert sink.triggered == ["Smile:on", "Smile:off", "Nope:on"]
    first = next(d for _, d in server.of("InjectParameterDataRequest") if d["parameterValues"][6]["value"] > 0.6)
    got = {v["id"]: v["value"] for v in first["parameterValues"]}
    assert got["MouthOpen"] == pytest.approx(0.7) and got["EyeOpenLeft"] == pytest.approx(0.0)
    assert got["FaceAngleZ"] == pytest.approx(-10.0)  # right ear down = ParamAngleZ toward the screen's left

    # a second session reuses the stored token: no new popup
    server2 = FakeVTubeStudio()
    server2.tokens = set(server.tokens)
    server2.port = server.port
    server2.start()
    try:
        sink = VTubeStudioSink(server2.url, rate=20.0, token_path=tokens)
        sink.start(INFO)
        assert _wait(sink.connected.is_set)
        sink.close()
    finally:
        server2.stop()
    assert not server2.of("AuthenticationTokenRequest") and server2.of("AuthenticationRequest")


def test_keep_alive_while_idle(tmp_path: Path) -> None:
    server = FakeVTubeStudio().start()
    try:
        sink = VTubeStudioSink(server.url, rate=10.0, token_path=tmp_path / "t.json")
        sink.start(INFO)  # no frame is ever written: the neutral pose keeps the parameters alive
        assert _wait(lambda: len(server.of("InjectParameterDataRequest")) >= 12)
        sink.close()
    finally:
        server.stop()
    times = [t for t, _ in server.of("InjectParameterDataRequest")]
    assert max(np.diff(times)) < 1.0  # VTS drops a parameter not re-sent within a second


def test_reconnects_after_vts_restarts(tmp_path: Path) -> None:
    server = FakeVTubeStudio().start()
    sink = VTubeStudioSink(server.url, rate=20.0, token_path=tmp_path / "t.json", backoff=(0.1, 0.4))
    sink.start(INFO)
    try:
        assert _wait(sink.connected.is_set)
        server.stop()  # VTS quits
        assert _wait(lambda: not sink.connected.is_set())
        time.sleep(0.5)  # a few failed attempts while nothing listens
        restarted = FakeVTubeStudio()
        restarted.tokens, restarted.port = set(server.tokens), server.port
        restarted.start()
        assert _wait(lambda: sink.connects == 2)
        assert _wait(lambda: len(restarted.of("InjectParameterDataRequest")) >= 3)
        sink.close()
        restarted.stop()
    finally:
        server.stop()
    assert not restarted.of("AuthenticationTokenRequest")  # the stored token survived the restart


def test_revoked_token_asks_again(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.json")
    server = FakeVTubeStudio().start()
    store.save(server.url, "revoked-token")
    try:
        sink = VTubeStudioSink(server.url, rate=20.0, token_path=store.path)
        sink.start(INFO)
        assert _wait(sink.connected.is_set)
        sink.close()
    finally:
        server.stop()
    kinds = [k for _, k, _ in server.received[:3]]
    assert kinds == ["AuthenticationRequest", "AuthenticationTokenRequest", "AuthenticationRequest"]
    assert store.load(server.url) in server.tokens


def test_user_declines_the_plugin(tmp_path: Path) -> None:
    server = FakeVTubeStudio(deny=True).start()
    try:
        sink = VTubeStudioSink(server.url, rate=20.0, token_path=tmp_path / "t.json")
        sink.start(INFO)
        assert _wait(lambda: sink.error is not None)
        with pytest.raises(VTubeStudioDenied, match="declined the plugin 'pyavatar'.*Allow") as info:
            sink.close()
        assert isinstance(info.value, OSError)  # the CLI reports it as one line, like other connection errors
    finally:
        server.stop()
    assert len(server.of("AuthenticationTokenRequest")) == 1  # no retry loop of popups
    assert not server.of("InjectParameterDataRequest") and not (tmp_path / "t.json").exists()


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="ws://"):
        VTubeStudioSink("http://127.0.0.1:8001")
    with pytest.raises(ValueError, match="1..120"):
        VTubeStudioSink(rate=0.5)
    with pytest.raises(ValueError, match="cannot drive.*'Bogus'"):
        VTubeStudioSink(parameters=["MouthOpen", "Bogus"])
    with pytest.raises(ValueError, match="unknown emotions"):
        VTubeStudioSink(hotkeys={"sleepy": "Zzz"})
