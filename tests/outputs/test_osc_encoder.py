"""The C++ OSC/VMC encoder, checked with python-osc as the independent decoder, and pyavatar's own decoder."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from pyavatar import _core
from pyavatar.face.params import NAMES
from pyavatar.outputs import osc
from pyavatar.outputs.vmc import ARKIT, VRM0, VRM1, VmcSender, blendshapes, unity_quaternion, vocabulary
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


@pytest.mark.parametrize("vocab", [("vrm0",), ("vrm0", "vrm1"), ("vrm0", "arkit"), ("arkit",)])
def test_vmc_frame_structure(vocab: tuple[str, ...]) -> None:
    sender = VmcSender(vocabularies=vocab)
    dgrams = sender.encode(_frame(jaw_open=0.6, head_yaw=10.0, blink_left=1.0, blink_right=0.5, happy=0.4), 1.25)
    assert all(len(d) <= 1500 for d in dgrams)
    msgs = [m for d in dgrams for m in _decode(d)]
    addrs = [m.address for m in msgs]
    assert addrs[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
    assert addrs[-1] == "/VMC/Ext/Blend/Apply" and addrs.count("/VMC/Ext/Blend/Apply") == 1
    assert list(msgs[0].params) == [1, 3, 0, 1]
    assert msgs[1].params == [1.25]
    bones = {m.params[0]: m for m in msgs if m.address == "/VMC/Ext/Bone/Pos"}
    assert set(bones) == {"Neck", "Head", "LeftEye", "RightEye"}
    for m in msgs:
        if m.address in ("/VMC/Ext/Bone/Pos", "/VMC/Ext/Root/Pos"):
            assert all(isinstance(v, float) for v in m.params[1:]) and len(m.params) == 8
    blends = {m.params[0]: m.params[1] for m in msgs if m.address == "/VMC/Ext/Blend/Val"}
    sent, _ = vocabulary(vocab)
    assert list(blends) == sent  # the full set, every frame, zeros included
    assert all(isinstance(v, float) for v in blends.values())
    if "vrm0" in vocab:
        assert blends["A"] == pytest.approx(0.8) and blends["Blink"] == pytest.approx(0.5)
        assert blends["Blink_L"] == pytest.approx(0.5) and blends["Blink_R"] == pytest.approx(0.0)
        assert blends["Joy"] == pytest.approx(0.4)
    if "arkit" in vocab:
        assert blends["JawOpen"] == pytest.approx(0.6) and blends["EyeBlinkLeft"] == pytest.approx(1.0)
    # typetags straight from the datagram: floats only for numbers
    for d in dgrams:
        for m in _decode(d):
            tags = m.dgram[len(m.address) + (4 - len(m.address) % 4) :].split(b"\0")[0].decode()
            if m.address == "/VMC/Ext/Blend/Val":
                assert tags == ",sf"
            elif m.address in ("/VMC/Ext/Bone/Pos", "/VMC/Ext/Root/Pos"):
                assert tags == ",sfffffff"


def test_vmc_unbundled_and_small_bundles() -> None:
    plain = VmcSender(bundle=False).encode(_frame(), 0.0)
    assert not any(OscBundle.dgram_is_bundle(d) for d in plain)
    assert OscMessage(plain[-1]).address == "/VMC/Ext/Blend/Apply"
    small = VmcSender(vocabularies=("arkit",), max_bytes=400).encode(_frame(), 0.0)
    assert all(len(d) <= 400 for d in small) and len(small) > 5


def test_vocabularies() -> None:
    assert len(VRM0) == 17 and len(VRM1) == 18 and len(ARKIT) == 52
    sent, _ = vocabulary(("vrm1",))
    assert sent[: len(VRM0)] == list(VRM0), "VRM 1 names come with the VRM 0 names (VMC spec)"
    sent, _ = vocabulary(("arkit",), arkit_case="lower")
    assert sent[0] == "eyeBlinkLeft"
    with pytest.raises(ValueError, match="vocabulary"):
        vocabulary(("vrm2",))
    shapes = blendshapes(_frame(gaze_yaw=15.0).params, np.zeros(5), gaze_shapes=True)
    assert shapes["LookLeft"] == pytest.approx(0.5) and shapes["LookRight"] == 0.0
    assert shapes["eyeLookOutLeft"] == pytest.approx(0.5) and shapes["eyeLookInRight"] == pytest.approx(0.5)


def test_unity_rotation_convention() -> None:
    def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
        x, y, z, w = q
        u = np.array([x, y, z])
        return 2 * np.dot(u, v) * u + (w * w - np.dot(u, u)) * v + 2 * w * np.cross(u, v)

    fwd, up = np.array([0.0, 0, 1]), np.array([0.0, 1, 0])
    # Unity: Euler(0, 90, 0) turns forward to +X (right); Euler(90, 0, 0) pitches forward down
    assert np.allclose(rotate(unity_quaternion(90, 0, 0), fwd), [1, 0, 0], atol=1e-9)
    assert np.allclose(rotate(unity_quaternion(0, 90, 0), fwd), [0, -1, 0], atol=1e-9)
    sender = VmcSender()
    bones = sender.bone_array(_frame(head_yaw=30.0).params)  # pyavatar yaw + = toward the avatar's left (-X)
    head = bones[1, 3:]
    assert rotate(head, fwd)[0] < -0.2
    bones = sender.bone_array(_frame(head_roll=20.0).params)  # right ear down: the head's up tilts to +X
    assert rotate(bones[1, 3:], up)[0] > 0.1


def test_parse_rejects_malformed_packets() -> None:
    good = osc.message("/x", 1.0)
    for bad, match in [(b"abc\0", "start with '/'"), (good[:-2], "multiple of 4"), (good[:8], "truncated"),
                       (b"#bundle\0" + b"\0" * 8 + struct.pack(">i", 3) + b"abcd", "element size"),
                       (b"/x\0\0,q\0\0", "unsupported type")]:  # fmt: skip
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
        f"VMC frame (vrm0+arkit, {len(vocabulary(('vrm0', 'arkit'))[0])} shapes): pyavatar {ours * 1e3:.3f} ms, "
        f"python-osc decode+rebuild {theirs * 1e3:.3f} ms"
    )
    assert len(_core.VmcEncoder(["Head"], ["A"]).encode(0.0, np.zeros(7, np.float32), np.zeros(7, np.float32),
                                                        np.zeros(1, np.float32))) == 1  # fmt: skip
    with pytest.raises(ValueError, match="expected 7 values"):
        _core.VmcEncoder(["Head"], ["A"]).encode(0.0, np.zeros(6, np.float32), np.zeros(7, np.float32),
                                                 np.zeros(1, np.float32))  # fmt: skip
    with pytest.raises(ValueError, match="float32"):
        _core.VmcEncoder(["Head"], ["A"]).encode(0.0, np.zeros(7), np.zeros(7, np.float32), np.zeros(1, np.float32))
