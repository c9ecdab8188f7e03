"""The C++ OSC/VMC encoder, checked with python-osc as the independent decoder, and pyavatar's own decoder."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from pyavatar import _core
from pyavatar.face.params import NAMES
from pyavatar.outputs import osc
from pyavatar.outputs.vmc import VmcSender
from pyavatar.packets import MotionFrame

pythonosc = pytest.importorskip("pythonosc", reason="python-osc is the independent decoder (pip install python-osc)")
from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_message import OscMessage  # noqa: E402
from pythonosc.osc_packet import OscPacket  # noqa: E402


def _decode(dgram: bytes) -> list[OscMessage]:
    return [m.message for m in OscPacket(dgram).messages]


def test_message_types_match_python_osc() -> None:
    raw = osc.message("/a/b", 1.5, 7, "héllo", True, False)
    m = OscMessage(raw)
    assert m.address == "/a/b"
    assert list(m.params) == [1.5, 7, "héllo", True, False]
    assert osc.parse(raw) == [("/a/b", [1.5, 7, "héllo", True, False])]
    with pytest.raises(TypeError, match="OSC argument"):
        osc.message("/x", [1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start with '/'"):
        osc.message("x")


def test_pack_bundles_under_the_limit_in_order() -> None:
    msgs = [osc.message(f"/m/{i}", float(i), "x" * (i % 7)) for i in range(200)]
    dgrams = osc.pack(msgs, max_bytes=512)
    assert all(len(d) <= 512 for d in dgrams) and len(dgrams) > 1
    got = [m for d in dgrams for m in _decode(d)]
    assert [m.address for m in got] == [f"/m/{i}" for i in range(200)]
    assert all(OscBundle.dgram_is_bundle(d) for d in dgrams)
    assert [len(osc.pack(msgs, bundle=False))] == [200]
    timetag = struct.unpack(">Q", dgrams[0][8:16])[0]
    assert timetag == 1  # "immediately"


def _frame(**fields: float) -> MotionFrame:
    p = np.zeros(len(NAMES), np.float32)
    for k, v in fields.items():
        p[NAMES.index(k)] = v
    return MotionFrame(0, 0, 60.0, 0, p, np.array([0.8, 0.1, 0.0, 0.2, 0.0], np.float32))


# What VMC receivers get (message kinds, policy, positions, sizes) is tested in test_vmc.py.


def test_parse_rejects_malformed_packets() -> None:
    good = osc.message("/x", 1.0)
    for bad, match in [
        (b"abc\0", "start with '/'"),
        (good[:-2], "multiple of 4"),
        (good[:8], "truncated"),
        (b"#bundle\0" + b"\0" * 8 + struct.pack(">i", 3) + b"abcd", "element size"),
        (b"/x\0\0,q\0\0", "unsupported type"),
    ]:
        with pytest.raises(osc.OscError, match=match):
            osc.parse(bad)


def test_encoder_is_faster_than_python_osc() -> None:
    """Not a timing assertion: both encoders must produce equivalent frames; the speed is printed."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    sender = VmcSender(vocabularies=("vrm0", "arkit"))
    frame = _frame(jaw_open=0.5)

    def python_osc_frame() -> list[bytes]:
        out, b = [], OscBundleBuilder(IMMEDIATELY)
        for d in sender.encode(frame, 0.0):
            for m in _decode(d):
                mb = OscMessageBuilder(m.address)
                for v in m.params:
                    mb.add_arg(v, "f" if isinstance(v, float) else None)
                b.add_content(mb.build())
        out.append(b.build().dgram)
        return out

    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        sender.encode(frame, 0.0)
    ours = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(20):
        python_osc_frame()
    theirs = (time.perf_counter() - t0) / 20
    print(
        f"VMC frame (vrm0+arkit, {len(sender.names)} shapes): pyavatar {ours * 1e3:.3f} ms, "
        f"python-osc decode+rebuild {theirs * 1e3:.3f} ms"
    )
    assert (
        len(
            _core.VmcEncoder(["Head"], ["A"]).encode(
                0.0, np.zeros(7, np.float32), np.zeros(7, np.float32), np.zeros(1, np.float32)
            )
        )
        == 1
    )
    with pytest.raises(ValueError, match="expected 7 values"):
        _core.VmcEncoder(["Head"], ["A"]).encode(
            0.0, np.zeros(6, np.float32), np.zeros(7, np.float32), np.zeros(1, np.float32)
        )
    with pytest.raises(ValueError, match="float32"):
        _core.VmcEncoder(["Head"], ["A"]).encode(0.0, np.zeros(7), np.zeros(7, np.float32), np.zeros(1, np.float32))
