"""What VMC receivers get, checked with independent decoders: python-osc (datagrams, type tags) and vmcp (events)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="python-osc is the independent OSC decoder (pip install python-osc)")
vmcp_events = pytest.importorskip("vmcp.events", reason="vmcp decodes VMC messages independently (pip install vmcp)")

from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_packet import OscPacket  # noqa: E402

from pyavatar.face import mappings as fm  # noqa: E402
from pyavatar.face.params import NAMES, FaceParams  # noqa: E402
from pyavatar.outputs.humanoid import STANDARD_REST, rest_positions_from_vrm  # noqa: E402
from pyavatar.outputs.vmc import VmcSender, blend_names  # noqa: E402
from pyavatar.packets import MotionFrame  # noqa: E402
from pyavatar.runtime.frames import StreamInfo  # noqa: E402
from tests.outputs.osc_receiver import Receiver  # noqa: E402

VMCP = {
    "/VMC/Ext/OK": vmcp_events.StateEvent,
    "/VMC/Ext/T": vmcp_events.RelativeTimeEvent,
    "/VMC/Ext/Root/Pos": vmcp_events.RootTransformEvent,
    "/VMC/Ext/Bone/Pos": vmcp_events.BoneTransformEvent,
    "/VMC/Ext/Blend/Val": vmcp_events.BlendShapeEvent,
    "/VMC/Ext/Blend/Apply": vmcp_events.BlendShapeApplyEvent,
}
TAGS = {
    "/VMC/Ext/OK": ",iiii",
    "/VMC/Ext/T": ",f",
    "/VMC/Ext/Root/Pos": ",sfffffff",
    "/VMC/Ext/Bone/Pos": ",sfffffff",
    "/VMC/Ext/Blend/Val": ",sf",
    "/VMC/Ext/Blend/Apply": ",",
    "/VMC/Ext/Set/Eye": ",ifff",
}
VISEMES = np.array([0.8, 0.1, 0.0, 0.2, 0.0], np.float32)


def _frame(visemes: np.ndarray = VISEMES, **fields: float) -> MotionFrame:
    p = np.zeros(len(NAMES), np.float32)
    for k, v in fields.items():
        p[NAMES.index(k)] = v
    return MotionFrame(0, 0, 60.0, 0, p, visemes)


def _tags(dgram: bytes) -> str:
    """The type-tag string read straight from a message datagram."""
    end = dgram.index(b"\0")
    start = (end + 4) & ~3
    return dgram[start : dgram.index(b"\0", start)].decode() if start < len(dgram) else ","


def _decode(dgrams: list[bytes]) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(address, type tags, args) of every message, in order, via python-osc."""
    return [
        (m.message.address, _tags(m.message.dgram), tuple(m.message.params))
        for d in dgrams
        for m in OscPacket(d).messages
    ]


def _events(msgs: list[tuple[str, str, tuple[Any, ...]]]) -> list[Any]:
    return [VMCP[a].from_message_data("test", a, args) for a, _, args in msgs if a in VMCP]


def _blends(msgs: list[tuple[str, str, tuple[Any, ...]]]) -> dict[str, float]:
    return {args[0]: args[1] for a, _, args in msgs if a == "/VMC/Ext/Blend/Val"}


@pytest.mark.parametrize("vocab", [("vrm0",), ("vrm0", "vrm1"), ("vrm0", "arkit"), ("arkit",)])
def test_marionette_frame_kinds_tags_and_sizes(vocab: tuple[str, ...]) -> None:
    sender = VmcSender(vocabularies=vocab, emotions="always")
    dgrams = sender.encode(_frame(jaw_open=0.6, head_yaw=10.0, happy=0.4), 1.25)
    assert all(len(d) <= 1200 and OscBundle.dgram_is_bundle(d) for d in dgrams)
    msgs = _decode(dgrams)
    addrs = [a for a, _, _ in msgs]
    assert addrs[:2] == ["/VMC/Ext/OK", "/VMC/Ext/T"] and addrs[-1] == "/VMC/Ext/Blend/Apply"
    assert addrs.count("/VMC/Ext/Blend/Apply") == 1 and "/VMC/Ext/Root/Pos" not in addrs  # root only when asked
    assert all(tags == TAGS[a] for a, tags, _ in msgs), {(a, t) for a, t, _ in msgs}
    events = _events(msgs)  # vmcp validates bone names (HumanBodyBones), OK states and argument counts
    ok = events[0]
    assert ok.model_state.value == 1 and ok.calibration_state.value == 3 and ok.tracking_state.value == 1
    assert events[1].delta == pytest.approx(1.25)
    bones = [e for e in events if isinstance(e, vmcp_events.BoneTransformEvent)]
    assert [b.joint.value for b in bones] == ["Neck", "Head", "LeftEye", "RightEye"]
    blends = [e for e in events if isinstance(e, vmcp_events.BlendShapeEvent)]
    assert [b.key for b in blends] == sender.names  # the full set every frame, zeros included
    if vocab != ("arkit",):
        assert _blends(msgs)["Joy"] == pytest.approx(0.4)


def test_rest_positions_default_override_zero_and_vrm(tmp_path: Path) -> None:
    def positions(sender: VmcSender) -> dict[str, tuple[float, float, float]]:
        events = _events(_decode(sender.encode(_frame(), 0.0)))
        return {
            e.joint.value: (e.position.x, e.position.y, e.position.z)
            for e in events
            if isinstance(e, vmcp_events.BoneTransformEvent)
        }

    got = positions(VmcSender())
    for bone, xyz in STANDARD_REST.items():
        assert got[bone] == pytest.approx(xyz, abs=1e-6)
    assert got["Head"][1] > 0.05 and got["LeftEye"][0] < 0 < got["RightEye"][0]  # up the neck; eyes apart
    assert set(positions(VmcSender(bone_positions="zero")).values()) == {(0.0, 0.0, 0.0)}
    custom = positions(VmcSender(bone_positions={"Head": (0.0, 0.2, 0.0)}))
    assert custom["Head"] == pytest.approx((0.0, 0.2, 0.0)) and custom["Neck"] == pytest.approx(STANDARD_REST["Neck"])
    with pytest.raises(ValueError, match="not sent"):
        VmcSender(gaze="none", bone_positions={"LeftEye": (0, 0, 0)})

    nodes = [
        {"name": "neck", "translation": [0.0, 0.1, 0.02]},
        {"name": "head", "translation": [0.0, 0.07, -0.01]},
        {"name": "eyeL", "translation": [0.03, 0.06, 0.04]},
        {"name": "eyeR", "matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -0.03, 0.06, 0.04, 1]},
    ]
    vrm0 = {
        "VRM": {
            "humanoid": {
                "humanBones": [{"bone": b, "node": i} for i, b in enumerate(["neck", "head", "leftEye", "rightEye"])]
            }
        }
    }
    vrm1 = {
        "VRMC_vrm": {
            "humanoid": {"humanBones": {b: {"node": i} for i, b in enumerate(["neck", "head", "leftEye", "rightEye"])}}
        }
    }
    for name, ext, flip in (("a.vrm", vrm0, (1, 1, -1)), ("b.vrm", vrm1, (-1, 1, 1))):
        path = _write_glb(tmp_path / name, {"asset": {"version": "2.0"}, "nodes": nodes, "extensions": ext})
        got = positions(VmcSender(bone_positions=path))
        assert got["Neck"] == pytest.approx(np.multiply((0.0, 0.1, 0.02), flip))
        assert got["RightEye"] == pytest.approx(np.multiply((-0.03, 0.06, 0.04), flip))
        # the avatar's left eye ends on Unity's -X either way (VRM0 models face -Z, VRM1 +Z in glTF)
        assert got["LeftEye"][0] == pytest.approx(0.03 * flip[0])
    assert rest_positions_from_vrm(tmp_path / "a.vrm", ["Head"]) == {"Head": pytest.approx((0.0, 0.07, 0.01))}
    with pytest.raises(ValueError, match="no valid node for bone 'Jaw'"):
        rest_positions_from_vrm(tmp_path / "a.vrm", ["Jaw"])
    (tmp_path / "bad.vrm").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"bad\.vrm: not a VRM/glb file"):
        VmcSender(bone_positions=tmp_path / "bad.vrm")
    with pytest.raises(ValueError, match="'rest', 'zero' or a .vrm"):
        VmcSender(bone_positions="model.fbx")


def _write_glb(path: Path, doc: dict) -> Path:
    body = json.dumps(doc).encode()
    body += b" " * (-len(body) % 4)
    path.write_bytes(
        struct.pack("<4sII", b"glTF", 2, 20 + len(body)) + struct.pack("<II", len(body), 0x4E4F534A) + body
    )
    return path


def test_root_only_with_send_root() -> None:
    msgs = _decode(VmcSender(send_root=True).encode(_frame(), 0.0))
    roots = [e for e in _events(msgs) if isinstance(e, vmcp_events.RootTransformEvent)]
    assert len(roots) == 1 and roots[0].joint == "root"
    r = roots[0]
    assert (r.position.x, r.position.y, r.position.z, r.rotation.w) == (0.0, 0.0, 0.0, 1.0)


def test_mouth_and_eye_policy_per_receiver_kind() -> None:
    frame = _frame(jaw_open=0.6, mouth_round=0.5, blink_left=1.0, blink_right=0.5, gaze_yaw=15.0, brow_up_left=0.4)

    def sent(**kw: Any) -> dict[str, float]:
        return _blends(_decode(VmcSender(**kw).encode(frame, 0.0)))

    vrm = sent(vocabularies=("vrm0",))  # VRM clips drive mouth and eyelids
    assert vrm["A"] == pytest.approx(0.8) and vrm["Blink"] == pytest.approx(0.5) and vrm["Blink_L"] == 0.5
    assert vrm["LookLeft"] == 0.0  # gaze goes to the eye bones
    sync = sent(vocabularies=("vrm0", "arkit"))  # Perfect Sync: ARKit shapes only, VRM mouth/eyes at 0
    assert sync["JawOpen"] == pytest.approx(0.6) and sync["EyeBlinkLeft"] == 1.0
    assert sync["MouthFunnel"] == pytest.approx(0.3) and sync["MouthPucker"] == pytest.approx(0.2)
    assert all(sync[n] == 0.0 for n in ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R"))
    assert sync["BrowOuterUpLeft"] == pytest.approx(0.4)  # brows have no VRM clip: always ARKit
    hybrid = sent(vocabularies=("vrm0", "arkit"), face_source="vrm")  # VRM mouth/eyes, ARKit for the rest
    assert hybrid["A"] == pytest.approx(0.8) and hybrid["JawOpen"] == 0.0 and hybrid["EyeBlinkLeft"] == 0.0
    assert hybrid["MouthFunnel"] == 0.0 and hybrid["BrowOuterUpLeft"] == pytest.approx(0.4)
    shapes = VmcSender(vocabularies=("vrm0",), gaze="shapes")
    msgs = _decode(shapes.encode(frame, 0.0))
    assert _blends(msgs)["LookLeft"] == pytest.approx(0.5) and "/VMC/Ext/Bone/Pos" in {a for a, _, _ in msgs}
    assert {args[0] for a, _, args in msgs if a == "/VMC/Ext/Bone/Pos"} == {"Neck", "Head"}
    assert sent(vocabularies=("arkit",), gaze="shapes")["EyeLookOutLeft"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="needs the 'arkit' vocabulary"):
        VmcSender(face_source="arkit")
    assert [n for v, n, d in blend_names(("vrm1",)) if v == "vrm0"] == list(fm.VRM0_NAMES)  # vrm1 brings vrm0


def test_values_come_from_the_one_face_mapping() -> None:
    frame = _frame(jaw_open=0.4, mouth_round=0.7, smile_left=0.3, mouth_wide=0.2, surprised=0.6)
    params = FaceParams.from_array(frame.params)
    arkit = fm.to_arkit(params, case="upper")
    vrm0 = fm.to_vrm0(params, frame.visemes.reshape(1, -1))
    got = _blends(_decode(VmcSender(vocabularies=("arkit",)).encode(frame, 0.0)))
    for n in ("MouthSmileLeft", "MouthStretchLeft", "MouthPucker", "MouthFunnel", "BrowInnerUp"):
        assert got[n] == pytest.approx(float(arkit[n][0]))
    got = _blends(_decode(VmcSender(vocabularies=("vrm0",), emotions="always").encode(frame, 0.0)))
    for n in ("A", "I", "E", "Surprised"):
        assert got[n] == pytest.approx(float(vrm0[n][0]))
    assert got["Surprised"] == pytest.approx(0.6)  # VRM0 gets Surprised (VSeeFace's custom clip)


def test_emotion_modes() -> None:
    def run(mode: str, values: list[float]) -> list[float | None]:
        sender = VmcSender(emotions=mode)
        out = []
        for v in values:
            out.append(_blends(_decode(sender.encode(_frame(happy=v), 0.0))).get("Joy"))
        return out

    seq = [0.0, 0.5, 0.2, 0.0, 0.0]
    assert run("off", seq) == [None] * 5  # hotkey expressions in VSeeFace keep working
    assert run("always", seq) == pytest.approx(seq)
    assert run("nonzero", seq) == [None, 0.5, pytest.approx(0.2), 0.0, None]  # released with one 0
    with pytest.raises(ValueError, match="emotions"):
        VmcSender(emotions="sometimes")


def test_bundles_are_split_to_max_bytes() -> None:
    frame = _frame(jaw_open=0.5)
    big = VmcSender(vocabularies=("vrm0", "vrm1", "arkit"), emotions="always")
    dgrams = big.encode(frame, 0.0)
    assert len(dgrams) > 3 and max(len(d) for d in dgrams) <= 1200
    small = VmcSender(vocabularies=("vrm0", "vrm1", "arkit"), emotions="always", max_bytes=500).encode(frame, 0.0)
    assert max(len(d) for d in small) <= 500 and len(small) > len(dgrams)
    assert _decode(small) == _decode(dgrams)  # same messages in the same order
    plain = VmcSender(bundle=False).encode(frame, 0.0)
    assert not any(OscBundle.dgram_is_bundle(d) for d in plain) and _decode(plain)[-1][0] == "/VMC/Ext/Blend/Apply"
    with pytest.raises(ValueError, match="max_bytes"):
        VmcSender(max_bytes=32)


def test_performer_gets_only_what_a_performer_accepts() -> None:
    sender = VmcSender(preset="performer", vocabularies=("vrm0",), send_root=True)
    assert sender.port == 39540
    msgs = _decode(sender.encode(_frame(gaze_yaw=20.0, gaze_pitch=-10.0, head_yaw=30.0), 0.0))
    addrs = {a for a, _, _ in msgs}
    assert addrs == {"/VMC/Ext/Blend/Val", "/VMC/Ext/Blend/Apply", "/VMC/Ext/Set/Eye"}
    assert all(tags == TAGS[a] for a, tags, _ in msgs)
    enable, x, y, z = next(args for a, _, args in msgs if a == "/VMC/Ext/Set/Eye")
    assert enable == 1 and x < 0 < y and z > 0.8  # toward the avatar's left (-X) and up, in front of the head
    assert [a for a, _, _ in msgs].index("/VMC/Ext/Blend/Apply") > max(
        i for i, (a, _, _) in enumerate(msgs) if a == "/VMC/Ext/Blend/Val"
    )


def test_unity_rotation_convention() -> None:
    def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
        x, y, z, w = q
        u = np.array([x, y, z])
        return 2 * np.dot(u, v) * u + (w * w - np.dot(u, u)) * v + 2 * w * np.cross(u, v)

    fwd, up = np.array([0.0, 0, 1]), np.array([0.0, 1, 0])
    sender = VmcSender()
    bones = sender.bone_array(_frame(head_yaw=30.0).params)  # yaw + = toward the avatar's left (-X)
    head = bones[0, 3:].astype(np.float64)
    both = fm.quat_mul(head, bones[1, 3:].astype(np.float64))
    assert rotate(both, fwd)[0] == pytest.approx(-0.5, abs=1e-5)  # Neck·Head = the whole 30°
    assert rotate(sender.bone_array(_frame(head_roll=20.0).params)[1, 3:], up)[0] > 0.1  # right ear down
    assert rotate(sender.bone_array(_frame(head_pitch=20.0).params)[1, 3:], fwd)[1] < -0.1  # nod down


def test_loopback_stream_decodes_with_vmcp() -> None:
    with Receiver() as rx:
        sender = VmcSender("127.0.0.1", rx.port, rate=60.0, vocabularies=("vrm0", "arkit"))
        sender.start(StreamInfo(64, 64, 30.0))
        sender.write_motion(_frame(jaw_open=0.5))
        time.sleep(0.3)
        sender.close()
        time.sleep(0.1)
    assert max(rx.sizes) <= 1200 and sender.send_errors == 0
    msgs = [(a, "", args) for _, a, args in rx.messages]
    events = _events(msgs)
    assert len(events) == len(msgs) and len(rx.of("/VMC/Ext/Blend/Apply")) >= 5
    assert {e.joint.value for e in events if isinstance(e, vmcp_events.BoneTransformEvent)} == {
        "Neck",
        "Head",
        "LeftEye",
        "RightEye",
    }
