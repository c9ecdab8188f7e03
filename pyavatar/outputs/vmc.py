"""VMC protocol sender (Virtual Motion Capture over OSC/UDP).

Every tick (60 Hz by default, also while silent) sends one frame:
``/VMC/Ext/OK 1 3 0 1`` · ``/VMC/Ext/T`` · ``/VMC/Ext/Root/Pos "root"`` (identity)
· ``/VMC/Ext/Bone/Pos`` for Neck and Head (and LeftEye/RightEye with
``gaze="bones"``) · ``/VMC/Ext/Blend/Val`` for the whole chosen vocabulary (zeros
included) · ``/VMC/Ext/Blend/Apply`` last, packed in bundles of at most
``max_bytes`` (1500) by the C++ encoder. Numeric fields are OSC float32 (the
OK flags are the spec's int32).

Rotations follow Unity (left-handed, +Y up, +Z forward, +X the avatar's right,
quaternions x y z w, Euler order roll → pitch → yaw): pyavatar's head yaw (left
+), pitch (down +) and roll (right ear down +) become Unity yaw -, pitch +,
roll -. The neck takes 40 % of the head rotation, the head the rest. Bone
positions are sent as zeros unless ``rest_positions`` gives them: disable
"bone position synchronize" in the receiver (EVMC4U: ``BonePositionSynchronize``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from pyavatar.face.params import NAMES
from pyavatar.outputs.osc import MAX_DATAGRAM, RateSender, _core
from pyavatar.runtime.clock import Clock
from pyavatar.runtime.frames import MotionFrame

#: VMC roles: where each listens by convention.
PRESETS = {"marionette": 39539, "performer": 39540}

VRM0 = ("Neutral", "A", "I", "U", "E", "O", "Blink", "Joy", "Angry", "Sorrow", "Fun", "LookUp", "LookDown",
        "LookLeft", "LookRight", "Blink_L", "Blink_R")  # fmt: skip
VRM1 = ("neutral", "aa", "ih", "ou", "ee", "oh", "blink", "blinkLeft", "blinkRight", "happy", "angry", "sad",
        "relaxed", "surprised", "lookUp", "lookDown", "lookLeft", "lookRight")  # fmt: skip
ARKIT = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel",
    "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
VOCABULARIES = ("vrm0", "vrm1", "arkit")
_I = {n: i for i, n in enumerate(NAMES)}
_GAZE_YAW_FULL, _GAZE_PITCH_FULL = 30.0, 25.0  # degrees at which a look/eye-look shape reaches 1


def _qmul(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)  # fmt: skip


def unity_quaternion(yaw: float, pitch: float, roll: float) -> tuple[float, float, float, float]:
    """Unity ``Quaternion.Euler(pitch, yaw, roll)`` (degrees, Unity's signs) as x y z w: roll, then pitch, then yaw."""
    hy, hp, hr = (math.radians(float(v)) / 2 for v in (yaw, pitch, roll))
    qy = (0.0, math.sin(hy), 0.0, math.cos(hy))
    qx = (math.sin(hp), 0.0, 0.0, math.cos(hp))
    qz = (0.0, 0.0, math.sin(hr), math.cos(hr))
    return _qmul(_qmul(qy, qx), qz)


def blendshapes(params: np.ndarray, visemes: np.ndarray, *, gaze_shapes: bool = False) -> dict[str, float]:
    """Every VRM 0, VRM 1 and ARKit shape value (0..1) for one frame of parameters and visemes.

    ``gaze_shapes``: also drive the Look* expressions from the gaze (for avatars
    whose gaze is expression-based; otherwise the eye bones carry it).
    """
    p = {n: float(params[i]) for n, i in _I.items()}
    aa, ih, ou, ee, oh = (float(v) for v in visemes)
    clip = lambda v: min(1.0, max(0.0, v))  # noqa: E731
    bl, br = p["blink_left"], p["blink_right"]
    both = min(bl, br)
    yaw, pitch = p["gaze_yaw"], p["gaze_pitch"]
    left, right = clip(yaw / _GAZE_YAW_FULL), clip(-yaw / _GAZE_YAW_FULL)  # the avatar looks to its left / right
    down, up = clip(pitch / _GAZE_PITCH_FULL), clip(-pitch / _GAZE_PITCH_FULL)
    look = (up, down, left, right) if gaze_shapes else (0.0, 0.0, 0.0, 0.0)
    emo = (p["happy"], p["angry"], p["sad"], p["relaxed"], p["surprised"])
    out = dict(zip(VRM0, (0.0, aa, ih, ou, ee, oh, both, *emo[:4], *look, bl - both, br - both), strict=True))
    out.update(zip(VRM1, (0.0, aa, ih, ou, ee, oh, both, bl - both, br - both, *emo, *look), strict=True))
    smile_l, smile_r = p["smile_left"], p["smile_right"]
    stretch = max(p["mouth_wide"] * 0.5, 0.45 * ih + 0.3 * ee)
    ark = dict.fromkeys(ARKIT, 0.0)
    ark.update(
        eyeBlinkLeft=bl, eyeBlinkRight=br, eyeWideLeft=p["eye_wide"], eyeWideRight=p["eye_wide"],
        eyeLookOutLeft=left, eyeLookInRight=left, eyeLookInLeft=right, eyeLookOutRight=right,
        eyeLookDownLeft=down, eyeLookDownRight=down, eyeLookUpLeft=up, eyeLookUpRight=up,
        eyeSquintLeft=0.4 * smile_l, eyeSquintRight=0.4 * smile_r, cheekSquintLeft=0.5 * smile_l,
        cheekSquintRight=0.5 * smile_r, jawOpen=p["jaw_open"], mouthFunnel=clip(0.6 * oh + 0.25 * ou),
        mouthPucker=clip(max(p["mouth_round"] * 0.75, 0.75 * ou)), mouthStretchLeft=clip(stretch),
        mouthStretchRight=clip(stretch), mouthSmileLeft=clip(smile_l + 0.2 * ih),
        mouthSmileRight=clip(smile_r + 0.2 * ih), mouthFrownLeft=p["mouth_frown"], mouthFrownRight=p["mouth_frown"],
        mouthLowerDownLeft=0.3 * aa, mouthLowerDownRight=0.3 * aa, browDownLeft=p["brow_down"],
        browDownRight=p["brow_down"], browInnerUp=(p["brow_up_left"] + p["brow_up_right"]) / 2,
        browOuterUpLeft=p["brow_up_left"], browOuterUpRight=p["brow_up_right"],
    )  # fmt: skip
    out.update(ark)
    return out


def vocabulary(names: Sequence[str], arkit_case: str = "upper") -> tuple[list[str], list[str]]:
    """(sent names, canonical keys) for vocabularies ``names`` (vrm1 implies vrm0, as the VMC spec requires).

    ``arkit_case``: ``"upper"`` (Perfect Sync clip names, ``JawOpen``) or ``"lower"`` (``jawOpen``).
    """
    unknown = [n for n in names if n not in VOCABULARIES]
    if unknown or not names:
        raise ValueError(f"VMC blendshape vocabulary must be some of {VOCABULARIES}, got {list(names)}")
    if arkit_case not in ("upper", "lower"):
        raise ValueError(f"arkit_case must be 'upper' or 'lower', got {arkit_case!r}")
    chosen = set(names) | ({"vrm0"} if "vrm1" in names else set())
    keys: list[str] = []
    sent: list[str] = []
    for vocab, table in (("vrm0", VRM0), ("vrm1", VRM1), ("arkit", ARKIT)):
        if vocab in chosen:
            keys += table
            sent += [n[0].upper() + n[1:] if vocab == "arkit" and arkit_case == "upper" else n for n in table]
    return sent, keys


class VmcSender(RateSender):
    """Sends VMC frames to a Marionette (``preset="marionette"``, port 39539) or a Performer (39540).

    Args:
        host: receiver address.
        port: receiver port (default: the preset's).
        preset: ``"marionette"`` or ``"performer"``.
        rate: frames per second (30/60/120 typical).
        vocabularies: blendshape sets to send every frame: ``vrm0``, ``vrm1``, ``arkit``.
        arkit_case: ARKit name case, ``"upper"`` (Perfect Sync) or ``"lower"``.
        gaze: ``"bones"`` (LeftEye/RightEye rotations), ``"shapes"`` (Look* expressions) or ``"none"``.
        bundle: pack messages in bundles (False: one datagram per message).
        max_bytes: largest bundle.
        rest_positions: local bone positions (metres, Unity frame) to send instead of zeros.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, *, preset: str = "marionette", rate: float = 60.0,
        vocabularies: Sequence[str] = ("vrm0",), arkit_case: str = "upper", gaze: str = "bones", bundle: bool = True,
        max_bytes: int = MAX_DATAGRAM, rest_positions: Mapping[str, Sequence[float]] | None = None,
        clock: Clock | None = None,
    ) -> None:  # fmt: skip
        if preset not in PRESETS:
            raise ValueError(f"VMC preset must be one of {list(PRESETS)}, got {preset!r}")
        if gaze not in ("bones", "shapes", "none"):
            raise ValueError(f"gaze must be 'bones', 'shapes' or 'none', got {gaze!r}")
        super().__init__(host, PRESETS[preset] if port is None else port, rate, clock=clock, name="vmc")
        self.preset = preset
        self.gaze = gaze
        self.names, self._keys = vocabulary(vocabularies, arkit_case)
        self.bones = ["Neck", "Head"] + (["LeftEye", "RightEye"] if gaze == "bones" else [])
        rest = dict(rest_positions or {})
        unknown = sorted(set(rest) - set(self.bones))
        if unknown:
            raise ValueError(f"rest_positions for bones that are not sent: {unknown} (sent: {self.bones})")
        self._pos = np.array([list(rest.get(b, (0.0, 0.0, 0.0))) for b in self.bones], np.float32).reshape(-1, 3)
        self._encoder = _core().VmcEncoder(self.bones, self.names, max_bytes=max_bytes, bundle=bundle)
        self._root = np.array([0, 0, 0, 0, 0, 0, 1], np.float32)

    def idle_frame(self) -> MotionFrame:
        """The neutral pose, sent until the first frame arrives."""
        return MotionFrame(-1, 0, self.rate, -1, np.zeros(len(NAMES), np.float32), np.zeros(5, np.float32))

    def bone_array(self, params: np.ndarray) -> np.ndarray:
        """(n_bones, 7) positions and Unity quaternions of :attr:`bones` for one frame."""
        yaw, pitch, roll = (
            -float(params[_I["head_yaw"]]),
            float(params[_I["head_pitch"]]),
            -float(params[_I["head_roll"]]),
        )
        rot = [unity_quaternion(share * yaw, share * pitch, share * roll) for share in (0.4, 0.6)]
        if self.gaze == "bones":
            eye = unity_quaternion(-float(params[_I["gaze_yaw"]]), float(params[_I["gaze_pitch"]]), 0.0)
            rot += [eye, eye]
        out = np.empty((len(self.bones), 7), np.float32)
        out[:, :3] = self._pos
        out[:, 3:] = rot
        return out

    def encode(self, frame: MotionFrame | None, t: float) -> list[bytes]:
        frame = frame or self.idle_frame()
        shapes = blendshapes(frame.params, frame.visemes, gaze_shapes=self.gaze == "shapes")
        values = np.array([shapes[k] for k in self._keys], np.float32)
        return self._encoder.encode(float(t), self._root, self.bone_array(frame.params), values)
