"""The OSC control channel under attack: malformed packets, fuzzing a live session, code-selecting names."""

from __future__ import annotations

import math
import random
import socket
import struct
import sys
import threading
import time
from typing import Any

import numpy as np
import pytest

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT
from pyavatar.outputs import osc
from pyavatar.outputs.control_server import ControlServer
from pyavatar.runtime import control as ctl
from tests.runtime.helpers import pyavatar_threads

FUZZ_PACKETS = 20_000
# controls a fuzz packet may name ("stop" and "pause" are left out so the session keeps running)
FUZZ_CONTROLS = ["emotion", "intensity", "lip_scale", "gaze", "mute", "renderer", "flush", "nope", ""]
EVIL_NAMES = [
    "os:abort",
    "os:system",
    "this:x",
    "builtins:exec",
    "subprocess:Popen",
    "../../etc/passwd",
    "probe;rm -rf",
    "x" * 5000,
    "\u00e9",
    "classical:ClassicalRenderer",
]


def _osc_string(s: bytes) -> bytes:
    s += b"\0"
    return s + b"\0" * (-len(s) % 4)


def _raw_message(address: bytes, tags: bytes, payload: bytes) -> bytes:
    return _osc_string(address) + _osc_string(tags) + payload


def _bundle(elements: list[bytes], sizes: list[int] | None = None) -> bytes:
    out = b"#bundle\0" + b"\0" * 7 + b"\1"
    for i, e in enumerate(elements):
        out += struct.pack(">i", len(e) if sizes is None else sizes[i]) + e
    return out


def fuzz_packet(rng: random.Random) -> bytes:
    """One random, mostly malformed, packet."""
    kind = rng.randrange(12)
    address = ("/pyavatar/set/" + rng.choice(FUZZ_CONTROLS)).encode()
    if kind == 0:  # random bytes of random length
        return rng.randbytes(rng.randrange(0, 200))
    if kind == 1:  # blob with a negative, huge or wrong length
        n = rng.choice([-100, -1, -(2**31), 2**31 - 1, 1 << 20, rng.randrange(-50, 200)])
        return _raw_message(address, b",bi", struct.pack(">i", n) + rng.randbytes(rng.randrange(0, 12)))
    if kind == 2:  # bad or unsupported type tags, truncated arguments
        tags = b"," + bytes(rng.choice(b"ifsbhdTFNtcrm[]?\xff") for _ in range(rng.randrange(0, 8)))
        return _raw_message(address, tags, rng.randbytes(rng.randrange(0, 16)))
    if kind == 3:  # non-UTF-8 in the address and the strings
        return _raw_message(b"/pyavatar/set/\xff\xfe" + rng.randbytes(3), b",s", _osc_string(b"\xc3\x28\xa0\xa1"))
    if kind == 4:  # NaN, inf and out-of-range numbers for numeric controls
        value = rng.choice([math.nan, math.inf, -math.inf, 3e38, -3e38, 7.5, -3.0])
        what = rng.choice([b"intensity", b"lip_scale", b"gaze", b"emotion"])
        if what == b"emotion":
            return _raw_message(b"/pyavatar/set/emotion", b",sd", _osc_string(b"happy") + struct.pack(">d", value))
        tags = b",ff" if what == b"gaze" else b",f"
        return _raw_message(b"/pyavatar/set/" + what, tags, struct.pack(">f", value) * (len(tags) - 1))
    if kind == 5:  # nested bundles, some deeper than allowed, with wrong element sizes
        inner = osc.message("/pyavatar/set/intensity", rng.random())
        for _ in range(rng.randrange(1, 14)):
            inner = _bundle([inner])
        if rng.random() < 0.5:
            return _bundle([inner], [rng.choice([-4, 0, 3, len(inner) + 4, 2**31 - 1])])
        return inner
    if kind == 6:  # renderer names that would select code, paths or garbage, and now and then a valid swap
        return osc.message("/pyavatar/set/renderer", "probe" if rng.random() < 0.2 else rng.choice(EVIL_NAMES))
    if kind == 7:  # a valid message with bytes flipped
        raw = bytearray(osc.message(address.decode(), rng.random(), "happy"))
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if kind == 8:  # a valid message cut short
        raw = osc.message("/pyavatar/set/emotion", "surprised", 0.5)
        return raw[: rng.randrange(len(raw))]
    if kind == 9:  # unterminated strings and a missing type tag string
        return b"/pyavatar/set/emotion" + rng.randbytes(rng.randrange(0, 8)).replace(b"\0", b"a")
    if kind == 10:  # bundle header without elements, or a truncated time tag
        return b"#bundle\0" + rng.randbytes(rng.randrange(0, 12))
    return osc.message(address.decode(), *[rng.choice([1, 0.5, "x", True]) for _ in range(rng.randrange(0, 4))])


def test_decoder_raises_only_osc_error_on_malformed_packets() -> None:
    # the reproduction: a blob with a negative length used to escape as struct.error
    with pytest.raises(osc.OscError, match="negative length"):
        osc.parse(_raw_message(b"/pyavatar/set/x", b",bi", struct.pack(">i", -100) + struct.pack(">i", 1)))
    deep = osc.message("/a", 1)
    for _ in range(osc.MAX_BUNDLE_DEPTH + 2):
        deep = _bundle([deep])
    with pytest.raises(osc.OscError, match="nested too deeply"):
        osc.parse(deep)
    with pytest.raises(osc.OscError, match="not UTF-8"):
        osc.parse(_raw_message(b"/a", b",s", _osc_string(b"\xff\xfe")))
    rng = random.Random(1)
    parsed = 0
    for _ in range(20_000):
        try:
            osc.parse(fuzz_packet(rng))
            parsed += 1
        except osc.OscError:
            pass  # the one exception type a packet may cause
    assert 0 < parsed < 20_000


def test_control_server_survives_a_failing_handler() -> None:
    calls: list[Any] = []

    def handler(event: ctl.ControlEvent) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("handler bug")

    with ControlServer(handler, port=0) as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for v in (0.25, 0.5):
            tx.sendto(osc.message("/pyavatar/set/intensity", v), server.address)
        _wait(lambda: server.received == 2)
        assert server.alive and server.handler_errors == 1 and server.applied == 1
        assert calls[-1] == ctl.SetIntensity(0.5)


def test_from_osc_refuses_code_selecting_renderer_names() -> None:
    for name in EVIL_NAMES:
        with pytest.raises(ValueError, match="not a renderer name"):
            ctl.from_osc("/pyavatar/set/renderer", [name])
    assert ctl.from_osc("/pyavatar/set/renderer", ["probe"]) == ctl.SwapRenderer("probe")


def _wait(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return Avatar.from_image(DEMO_PORTRAIT, renderer="probe")  # default options: the size a swap by name gets


class _LiveSession:
    """A live session on pushed silence with a control server on a free loopback port."""

    def __init__(self, avatar: Avatar) -> None:
        self.session = avatar.session(fps=30)
        self.session.swap_interval_s = 0.2
        self.motion: list[Any] = []
        self.session.on_motion(self.motion.append)
        self.session.start(sample_rate=16_000, control=0)
        self._stop = threading.Event()
        self._feeder = threading.Thread(target=self._feed)
        self._feeder.start()
        self.address = self.session.control_address
        self.server = self.session._control
        assert self.address is not None

    def _feed(self) -> None:
        block = np.zeros(320, np.float32)
        while not self._stop.wait(0.02):
            self.session.feed_audio(block, 16_000)

    def control(self) -> dict[str, Any]:
        return self.session.stats()["control"]

    def close(self) -> None:
        self._stop.set()
        self._feeder.join()
        self.session.stop()


def test_fuzz_a_live_session_then_a_valid_message_takes_effect(avatar: Avatar) -> None:
    live = _LiveSession(avatar)
    rng = random.Random(20261205)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            sent = 0
            while sent < FUZZ_PACKETS:
                for _ in range(20):  # small batches, so that none is lost in the socket buffer
                    tx.sendto(fuzz_packet(rng), live.address)
                    sent += 1
                _wait(lambda n=sent: live.server.received >= n)
            stats = live.control()
            assert stats["received"] == FUZZ_PACKETS
            assert stats["malformed"] > FUZZ_PACKETS // 2 and live.server.handler_errors == 0
            assert live.session.pipeline.running and live.server.alive
            tx.sendto(osc.message("/pyavatar/set/emotion", "surprised", 0.9), live.address)
            _wait(lambda: live.motion and live.motion[-1].emotion == "surprised")
        swaps = live.session.stats()["renderer_swaps"]
        assert swaps["failed"] == 0 and swaps["requested"] >= swaps["applied"] >= 1
    finally:
        live.close()
    assert pyavatar_threads() == []


def test_renderer_module_attr_is_refused_and_nothing_is_imported(avatar: Avatar) -> None:
    assert "this" not in sys.modules and "antigravity" not in sys.modules
    live = _LiveSession(avatar)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for name in ("this:x", "antigravity:fly", "os:abort"):
                tx.sendto(osc.message("/pyavatar/set/renderer", name), live.address)
            _wait(lambda: live.control()["received"] == 3)
        assert live.control()["malformed"] == 3 and "not a renderer name" in live.server.last_error
        # a syntactically fine name that is not registered is refused by the session
        live.server.handle_packet(osc.message("/pyavatar/set/renderer", "unregistered"))
        assert "not registered" in live.server.last_error
        assert "renderer_swaps" not in live.session.stats()  # no preparation was ever started
    finally:
        live.close()
    assert "this" not in sys.modules and "antigravity" not in sys.modules
