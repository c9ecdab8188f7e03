"""FaceParams ↔ ARKit / VRM 0.x / VRM 1.0 / VTube Studio / Unity bones, both ways where defined."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.face import mappings as m
from pyavatar.face.params import FaceParams


def _close(a: FaceParams, b: FaceParams, fields: list[str], atol: float = 1e-4) -> None:
    for f in fields:
        np.testing.assert_allclose(a[f], b[f], atol=atol, err_msg=f)


EXPRESSION = FaceParams.from_fields(
    jaw_open=np.array([0.0, 0.4, 0.9]),
    mouth_round=np.array([0.0, 0.5, 0.2]),
    mouth_wide=np.array([0.3, 0.0, 0.1]),
    smile_left=np.array([0.2, 0.7, 0.0]),
    smile_right=np.array([0.1, 0.6, 0.0]),
    mouth_frown=np.array([0.0, 0.0, 0.5]),
    brow_up_left=np.array([0.5, 0.0, 0.2]),
    brow_up_right=np.array([0.3, 0.0, 0.9]),
    brow_down=np.array([0.0, 0.6, 0.0]),
    blink_left=np.array([0.0, 1.0, 0.3]),
    blink_right=np.array([0.2, 0.8, 0.3]),
    eye_wide=np.array([0.4, 0.0, 0.0]),
    gaze_yaw=np.array([12.0, -20.0, 0.0]),
    gaze_pitch=np.array([-6.0, 9.0, 25.0]),
)
ARKIT_FIELDS = [
    "jaw_open",
    "mouth_round",
    "mouth_wide",
    "smile_left",
    "smile_right",
    "mouth_frown",
    "brow_up_left",
    "brow_up_right",
    "brow_down",
    "blink_left",
    "blink_right",
    "eye_wide",
    "gaze_yaw",
    "gaze_pitch",
]


def test_arkit_has_52_names_and_round_trips() -> None:
    assert len(m.ARKIT_NAMES) == 52 and len(set(m.ARKIT_NAMES)) == 52
    shapes = m.to_arkit(EXPRESSION)
    assert list(shapes) == list(m.ARKIT_NAMES)
    assert all(v.shape == (3,) and v.dtype == np.float32 and (v >= 0).all() and (v <= 1).all() for v in shapes.values())
    _close(m.from_arkit(shapes), EXPRESSION, ARKIT_FIELDS)


def test_arkit_directions_and_spellings() -> None:
    looking_left = m.to_arkit(FaceParams.from_fields(gaze_yaw=15.0, gaze_pitch=30.0, mouth_round=0.8, jaw_open=0.25))
    # looking to the avatar's left: left eye out, right eye in; pitch down
    assert looking_left["eyeLookOutLeft"][0] == pytest.approx(0.5)
    assert looking_left["eyeLookInRight"][0] == pytest.approx(0.5)
    assert looking_left["eyeLookInLeft"][0] == 0 and looking_left["eyeLookDownLeft"][0] == pytest.approx(1.0)
    assert looking_left["mouthPucker"][0] == pytest.approx(0.6) and looking_left["mouthFunnel"][0] == pytest.approx(0.2)
    upper = m.to_arkit(EXPRESSION, case="upper")
    assert "EyeBlinkLeft" in upper and "eyeBlinkLeft" not in upper
    raw = {"eyeBlink_L": 0.7, "EyeBlinkRight": 0.2, "jawopen": 0.5, "unknownShape": 3.0}
    p = m.from_arkit(raw)
    assert p.blink_left[0] == pytest.approx(0.7) and p.blink_right[0] == pytest.approx(0.2)
    assert p.jaw_open[0] == pytest.approx(0.5)
    assert m.from_arkit({"browInnerUp": 0.6}).brow_up_right[0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="case"):
        m.to_arkit(EXPRESSION, case="snake")
    with pytest.raises(ValueError, match="'jawOpen'"):
        m.from_arkit({"jawOpen": np.nan})


@pytest.mark.parametrize("viseme", m.VISEMES)
def test_pure_visemes_round_trip(viseme: str) -> None:
    mouth = m.from_visemes({viseme: 1.0})
    assert tuple(float(mouth[k][0]) for k in ("jaw_open", "mouth_wide", "mouth_round")) == pytest.approx(
        m.VISEME_SHAPES[viseme]
    )
    back = m.to_visemes(FaceParams.from_fields(**{k: v for k, v in mouth.items()}))
    for v in m.VISEMES:
        assert back[v][0] == pytest.approx(1.0 if v == viseme else 0.0, abs=1e-6), v


def test_mouth_split_into_visemes_and_back() -> None:
    rng = np.random.default_rng(3)
    wide, rnd = rng.uniform(0, 0.5, 50), rng.uniform(0, 0.5, 50)
    wide[::2] = 0  # a mouth is either spread or rounded, or neither
    jaw = 0.15 * (wide + rnd) + rng.uniform(0, 0.5, 50)
    p = FaceParams.from_fields(jaw_open=jaw, mouth_wide=wide, mouth_round=rnd)
    vis = m.to_visemes(p)
    back = m.from_visemes(vis)
    for k in ("jaw_open", "mouth_wide", "mouth_round"):
        np.testing.assert_allclose(back[k], p[k], atol=1e-5, err_msg=k)
    # jaw_open alone is pure aa
    assert m.to_visemes(FaceParams.from_fields(jaw_open=0.6))["aa"][0] == pytest.approx(0.6)


@pytest.mark.parametrize("version", [0, 1])
def test_vrm_round_trip(version: int) -> None:
    to, back, names = (m.to_vrm0, m.from_vrm0, m.VRM0_NAMES) if version == 0 else (m.to_vrm1, m.from_vrm1, m.VRM1_NAMES)
    p = FaceParams.from_fields(
        jaw_open=np.array([0.7, 0.2]),
        mouth_round=np.array([0.0, 0.6]),
        blink_left=np.array([1.0, 0.1]),
        blink_right=np.array([0.4, 0.1]),
        gaze_yaw=np.array([-15.0, 6.0]),
        gaze_pitch=np.array([3.0, -12.0]),
        happy=np.array([0.8, 0.0]),
        sad=np.array([0.0, 0.3]),
        angry=np.array([0.1, 0.0]),
        relaxed=np.array([0.0, 0.5]),
        surprised=np.array([0.2, 0.0]),
    )
    values = to(p)
    assert set(values) == set(names)
    fields = ["jaw_open", "mouth_round", "blink_left", "blink_right", "gaze_yaw", "gaze_pitch", *m.VRM0_EMOTIONS]
    _close(back(values), p, fields)


def test_vrm_names_blink_split_and_aliases() -> None:
    p = FaceParams.from_fields(blink_left=0.9, blink_right=0.3, gaze_yaw=30.0, happy=0.5, jaw_open=0.5)
    v0, v1 = m.to_vrm0(p), m.to_vrm1(p)
    assert v0["Blink"][0] == pytest.approx(0.3) and v0["Blink_L"][0] == pytest.approx(0.6) and v0["Blink_R"][0] == 0
    assert v0["LookLeft"][0] == pytest.approx(1.0) and v0["LookRight"][0] == 0
    assert v0["Joy"][0] == pytest.approx(0.5) and v0["A"][0] == pytest.approx(0.5)
    # VMC rule: the VRM0 and VRM1 names carry the same values (Joy↔happy, A↔aa, Blink_L↔blinkLeft …)
    pairs = {
        "Joy": "happy",
        "Sorrow": "sad",
        "Fun": "relaxed",
        "A": "aa",
        "I": "ih",
        "U": "ou",
        "E": "ee",
        "O": "oh",
        "Blink_L": "blinkLeft",
        "Blink_R": "blinkRight",
        "LookUp": "lookUp",
    }
    for a, b in pairs.items():
        assert v0[a][0] == v1[b][0], (a, b)


def test_vtube_studio_round_trip_and_ranges() -> None:
    p = FaceParams.from_fields(
        head_yaw=np.array([12.0, -25.0]),
        head_pitch=np.array([-8.0, 14.0]),
        head_roll=np.array([5.0, 0.0]),
        head_x=np.array([0.1, -0.2]),
        head_y=np.array([0.0, 0.05]),
        head_z=np.array([-0.1, 0.3]),
        jaw_open=np.array([0.6, 0.1]),
        smile_left=np.array([0.4, 0.0]),
        smile_right=np.array([0.4, 0.0]),
        mouth_frown=np.array([0.0, 0.5]),
        brow_up_left=np.array([0.6, 0.0]),
        brow_up_right=np.array([0.2, 0.0]),
        brow_down=np.array([0.0, 0.7]),
        blink_left=np.array([0.0, 1.0]),
        blink_right=np.array([0.5, 1.0]),
        gaze_yaw=np.array([9.0, -30.0]),
        gaze_pitch=np.array([-15.0, 6.0]),
        angry=np.array([0.0, 0.8]),
    )
    vts = m.to_vtube_studio(p)
    assert set(vts) == set(m.VTS_NAMES)
    assert vts["FaceAngleY"][0] == pytest.approx(8.0)  # looking up is positive
    # Live2D ParamAngleX/Z: + toward the screen's right. Yaw toward the avatar's left turns the face to the
    # viewer's right (+); the right ear going down tilts the top of the head to the viewer's left (-).
    assert vts["FaceAngleX"][0] == pytest.approx(12.0) and vts["FaceAngleZ"][0] == pytest.approx(-5.0)
    assert vts["MouthSmile"][0] == pytest.approx(0.7) and vts["MouthSmile"][1] == pytest.approx(0.25)
    assert vts["EyeOpenRight"][0] == pytest.approx(0.5)
    fields = [
        "head_yaw",
        "head_pitch",
        "head_roll",
        "head_x",
        "head_y",
        "head_z",
        "jaw_open",
        "smile_left",
        "smile_right",
        "mouth_frown",
        "brow_up_left",
        "brow_up_right",
        "brow_down",
        "blink_left",
        "blink_right",
        "gaze_yaw",
        "gaze_pitch",
        "angry",
    ]
    _close(m.from_vtube_studio(vts), p, fields)
    flipped = m.to_vtube_studio(p, invert=(True, False, True))
    assert flipped["FaceAngleX"][0] == pytest.approx(-12.0) and flipped["FaceAngleZ"][0] == pytest.approx(5.0)
    _close(m.from_vtube_studio(flipped, invert=(True, False, True)), p, ["head_yaw", "head_roll"])
    extreme = m.to_vtube_studio(FaceParams.from_fields(head_yaw=80.0, head_roll=-80.0, head_x=0.5, head_z=-0.5))
    assert extreme["FaceAngleX"][0] == 30.0 and extreme["FaceAngleZ"][0] == 80.0  # X/Y ±30, Z ±90 (VTS ranges)
    assert extreme["FacePositionX"][0] == 10.0 and extreme["FacePositionZ"][0] == -10.0  # within VTS's ±15
    voiced = m.to_vtube_studio(FaceParams.neutral(), np.array([[0.0, 0.6, 0.0, 0.0, 0.0]]))
    assert voiced["VoiceI"][0] == pytest.approx(0.6) and voiced["VoiceVolume"][0] == pytest.approx(0.6)
    assert voiced["VoiceSilence"][0] == pytest.approx(0.4) and voiced["VoiceFrequency"][0] == pytest.approx(0.8)
    rest = m.from_vtube_studio({"MouthOpen": 0.3})
    assert rest.blink_left[0] == 0 and rest.smile_left[0] == 0 and rest.brow_down[0] == 0


def test_vtube_studio_voice_visemes_give_mouth_shape() -> None:
    p = m.from_vtube_studio({"VoiceU": 1.0, "MouthOpen": 0.15})
    assert p.mouth_round[0] == pytest.approx(1.0) and p.jaw_open[0] == pytest.approx(0.15)


def test_unity_euler_convention() -> None:
    def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
        x, y, z, w = q
        u = np.array([x, y, z])
        return 2 * u.dot(v) * u + (w * w - u.dot(u)) * v + 2 * w * np.cross(u, v)

    forward, right = np.array([0.0, 0, 1]), np.array([1.0, 0, 0])
    q = m.unity_euler_to_quat(0.0, 90.0, 0.0)[0]
    np.testing.assert_allclose(rotate(q, forward), [1, 0, 0], atol=1e-12)  # +yaw turns +Z toward +X
    q = m.unity_euler_to_quat(90.0, 0.0, 0.0)[0]
    np.testing.assert_allclose(rotate(q, forward), [0, -1, 0], atol=1e-12)  # +pitch nods down
    q = m.unity_euler_to_quat(0.0, 0.0, 90.0)[0]
    np.testing.assert_allclose(rotate(q, right), [0, 1, 0], atol=1e-12)  # +roll: right side up
    # z first, then x, then y
    yaw, pitch, roll = m.unity_euler_to_quat(0, 30, 0), m.unity_euler_to_quat(20, 0, 0), m.unity_euler_to_quat(0, 0, 10)
    composed = m.quat_mul(yaw, m.quat_mul(pitch, roll))
    np.testing.assert_allclose(m.unity_euler_to_quat(20, 30, 10), composed, atol=1e-12)
    ex, ey, ez = m.quat_to_unity_euler(m.unity_euler_to_quat(20, 30, 10))
    assert (ex[0], ey[0], ez[0]) == pytest.approx((20, 30, 10))


def test_unity_bones_round_trip_and_split() -> None:
    p = FaceParams.from_fields(
        head_yaw=np.array([25.0, -10.0, 0.0]),
        head_pitch=np.array([10.0, -20.0, 5.0]),
        head_roll=np.array([-8.0, 15.0, 0.0]),
        gaze_yaw=np.array([10.0, 0.0, -20.0]),
        gaze_pitch=np.array([0.0, 12.0, -5.0]),
    )
    bones = m.to_unity_bones(p)
    assert set(bones) == set(m.UNITY_BONES) and bones["Head"].shape == (3, 4)
    np.testing.assert_allclose(np.linalg.norm(bones["Neck"], axis=1), 1, atol=1e-6)
    _close(m.from_unity_bones(bones), p, ["head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch"], 1e-3)
    # turning to the avatar's left is a negative Unity yaw, shared 40/60 by neck and head
    turn = m.to_unity_bones(FaceParams.from_fields(head_yaw=30.0))
    _, neck_yaw, _ = m.quat_to_unity_euler(turn["Neck"])
    _, head_yaw, _ = m.quat_to_unity_euler(turn["Head"])
    assert neck_yaw[0] == pytest.approx(-12.0, abs=1e-4) and head_yaw[0] == pytest.approx(-18.0, abs=1e-4)
    with pytest.raises(ValueError, match="neck_share"):
        m.to_unity_bones(p, neck_share=1.5)
    with pytest.raises(ValueError, match="'Head'"):
        m.from_unity_bones({"Head": np.array([np.nan, 0, 0, 1])})
