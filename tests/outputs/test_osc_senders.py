"""VMC and raw OSC senders over loopback UDP (python-osc receives), and the OSC control server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="python-osc receives the loopback traffic (pip install python-osc)")

from pythonosc.udp_client import SimpleUDPClient

from pyavatar.face.params import NAMES
from pyavatar.outputs.control_server import ControlServer
from pyavatar.outputs.raw_osc import RawOscSender
from pyavatar.outputs.vmc import VmcSender
from pyavatar.packets import MotionFrame
from pyavatar.runtime import control as ctl
from pyavatar.runtime.frames import StreamInfo
from tests.outputs.osc_receiver import Receiver
from tests.runtime.helpers import LockstepClock, pyavatar_threads

INFO = StreamInfo(64, 64, 30.0)


def _frame(jaw: float) -> MotionFrame:
    p = np.zeros(len(NAMES), np.float32)
    p[NAMES.index("jaw_open")] = jaw
    return MotionFrame(0, 0, 30.0, 0, p, np.array([jaw, 0, 0, 0, 0], np.float32), 1.0, "happy", 0.5)


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.002)


def test_vmc_sender_paces_and_keeps_sending_while_silent() -> None:
    clock = LockstepClock()  # the sender's time moves tick by tick, as far as the test allows
    budget = [18]
    with Receiver() as rx:
        sender = VmcSender("127.0.0.1", rx.port, rate=60.0, emotions="always", clock=clock)
        clock.gate(lambda: sender.frames_sent < budget[0])
        sender.start(INFO)
        _until(lambda: sender.frames_sent == 18, "18 ticks")  # 0.3 s, no frames yet: the neutral pose goes out
        sender.write_motion(_frame(0.7))
        budget[0] = 60
        _until(lambda: sender.frames_sent == 60, "60 ticks")  # 1 s at 60 Hz
        _until(lambda: len(rx.of("/VMC/Ext/Blend/Apply")) == 60, "60 packets on loopback")
        sender.close()
    ts = [args[0] for _, args in rx.of("/VMC/Ext/T")]  # the sender's time in each packet
    assert len(ts) == 60
    assert np.diff(ts) == pytest.approx(np.full(59, 1 / 60), abs=1e-5)
    a = [args[1] for _, args in rx.of("/VMC/Ext/Blend/Val") if args[0] == "A"]
    assert a[0] == 0.0 and a[-1] == pytest.approx(0.7)
    applies = rx.of("/VMC/Ext/Blend/Apply")
    assert len(applies) == len(ts)
    assert len(rx.of("/VMC/Ext/Blend/Val")) == len(ts) * len(sender.names)
    assert max(rx.sizes) <= 1200
    assert sender.send_errors == 0


def test_absent_receiver_never_stalls_the_sender() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    clock = LockstepClock()  # the sender's time moves tick by tick, as far as the test allows
    budget = [60]
    sender = VmcSender("127.0.0.1", port, rate=120.0, clock=clock)
    clock.gate(lambda: sender.frames_sent < budget[0])
    t0 = clock.now_ns()
    sender.start(INFO)
    _until(lambda: sender.frames_sent == 60, "60 ticks before the first frame")
    for i in range(60):  # frames arrive while nobody listens; each tick sends the newest
        sender.write_motion(_frame(i / 60))
        budget[0] += 1
        _until(lambda n=budget[0]: sender.frames_sent == n, f"tick {budget[0]}")
    assert "pyavatar-vmc" in pyavatar_threads()  # the thread survived every send into the void
    sender.close()  # and nothing was kept to raise here
    # 120 ticks on the sender's own grid, 1/120 s apart: it never waited for the missing receiver
    assert sender.frames_sent == 120 and clock.now_ns() - t0 == round(119 * 1e9 / 120)
    assert "pyavatar-vmc" not in pyavatar_threads()
    with pytest.raises(ValueError, match="cannot resolve"):
        VmcSender("no-such-host.invalid", 39539).start(INFO)


def test_raw_namespace_and_stats() -> None:
    stats = {"p50_ms": 40.0, "p95_ms": 55.5, "max_ms": 70.0, "fps_in": 30.0, "fps_out": 30.0, "drops": 2, "repeats": 3}
    with Receiver() as rx:
        sender = RawOscSender("127.0.0.1", rx.port, rate=50.0, stats_interval=0.2)
        sender.start(StreamInfo(64, 64, 30.0, stats=lambda: stats))
        sender.write_motion(_frame(0.25))
        time.sleep(0.55)
        sender.close()
        time.sleep(0.1)
    face = rx.of("/pyavatar/face")[-1][1]
    assert len(face) == len(NAMES) and face[NAMES.index("jaw_open")] == pytest.approx(0.25)
    assert len(rx.of("/pyavatar/pose")[-1][1]) == 6
    assert rx.of("/pyavatar/viseme")[-1][1] == pytest.approx((0.25, 0, 0, 0, 0, 1.0))
    emo = rx.of("/pyavatar/emotion")[-1][1]
    assert emo[0] == "happy" and emo[1] == pytest.approx(0.5) and len(emo) == 7
    st = rx.of("/pyavatar/stats")
    assert 2 <= len(st) <= 4 and st[0][1] == pytest.approx((40.0, 55.5, 70.0, 30.0, 30.0, 2.0, 3.0))


def test_control_server_applies_and_counts_malformed() -> None:
    got: list[ctl.ControlEvent] = []

    def handler(event: ctl.ControlEvent) -> None:
        if isinstance(event, ctl.SetEmotion) and event.name == "bogus":
            raise ValueError("unknown emotion 'bogus'")
        got.append(event)

    with ControlServer(handler, "127.0.0.1", 0) as server:
        host, port = server.address
        client = SimpleUDPClient(host, port)
        client.send_message("/pyavatar/set/emotion", ["happy", 0.5])
        client.send_message("/pyavatar/set/lip_scale", 1.5)
        client.send_message("/pyavatar/set/gaze", [10.0, -5.0])
        client.send_message("/pyavatar/set/mute", True)
        client.send_message("/pyavatar/set/emotion", ["bogus"])  # rejected by the handler
        client.send_message("/pyavatar/set/lip_scale", "loud")  # wrong type
        client.send_message("/pyavatar/set/warp", 1.0)  # unknown control
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.sendto(b"\x00garbage!", (host, port))  # not OSC
        raw.sendto(b"#bundle\0" + b"\0" * 8 + b"\0\0\0\x07abc", (host, port))  # broken bundle
        raw.close()
        client.send_message("/pyavatar/set/intensity", 0.25)  # still alive afterwards
        deadline = time.monotonic() + 3
        while server.received < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert got == [
        ctl.SetEmotion("happy", 0.5),
        ctl.SetLipScale(1.5),
        ctl.SetGaze(10.0, -5.0),
        ctl.SetMute(True),
        ctl.SetIntensity(0.25),
    ]
    assert server.malformed == 5 and server.applied == 5 and server.received == 10


def test_control_server_port_in_use_is_named() -> None:
    with ControlServer(lambda e: None, "127.0.0.1", 0) as first:
        port = first.address[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            ControlServer(lambda e: None, "127.0.0.1", port).start()


def test_raw_osc_respects_max_bytes() -> None:
    from pythonosc.osc_packet import OscPacket

    frame = _frame(0.4)
    small = RawOscSender(max_bytes=256).encode(frame, 0.0)
    assert len(small) > 1 and max(len(d) for d in small) <= 256
    whole = RawOscSender().encode(frame, 0.0)
    assert len(whole) == 1 and len(whole[0]) <= 1200
    addrs = [[m.message.address for d in dg for m in OscPacket(d).messages] for dg in (small, whole)]
    assert addrs[0] == addrs[1]  # same messages, same order
    with pytest.raises(ValueError, match="max_bytes"):
        RawOscSender(max_bytes=70000)
