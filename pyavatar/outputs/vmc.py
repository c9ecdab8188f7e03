"""VMC protocol sender (Virtual Motion Capture over OSC/UDP).

Every tick (60 Hz by default, also while silent) sends one frame. What a
frame holds depends on the receiver's role:

* ``marionette`` (a renderer: EVMC4U, VMC4UE, VSeeFace/VNyan/Warudo receivers,
  port 39539): ``/VMC/Ext/OK 1 3 0 1`` · ``/VMC/Ext/T`` · ``/VMC/Ext/Root/Pos``
  (only with ``send_root``) · ``/VMC/Ext/Bone/Pos`` for Neck and Head (and
  LeftEye/RightEye with ``gaze="bones"``) with rest-pose local positions ·
  ``/VMC/Ext/Blend/Val`` for the chosen vocabularies · ``/VMC/Ext/Blend/Apply``.
* ``performer`` (VirtualMotionCapture and other Performers, port 39540): only
  what the specification lets a Performer accept from an Assistant:
  ``/VMC/Ext/Blend/Val`` + ``/VMC/Ext/Blend/Apply`` and, with
  ``gaze="bones"``, ``/VMC/Ext/Set/Eye 1 x y z`` (a look-at target relative to
  the Head). The head rotation has no Performer message; the Performer keeps
  its own head tracking.

Datagrams are bundles of at most ``max_bytes`` (1200 by default), numbers are
OSC float32 (the OK flags and Set/Eye's enable are the spec's int32). Every
value comes from :mod:`pyavatar.face.mappings`; this module only chooses
which of those names a receiver gets (see :func:`blend_names`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from pyavatar._native import core
from pyavatar.face import mappings as fm
from pyavatar.face.params import NAMES, FaceParams
from pyavatar.outputs.humanoid import STANDARD_REST, rest_positions_from_vrm
from pyavatar.outputs.osc import MAX_DATAGRAM, RateSender, message, pack
from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import Clock

#: VMC roles: where each listens by convention.
PRESETS = {"marionette": 39539, "performer": 39540}
VOCABULARIES = ("vrm0", "vrm1", "arkit")
EMOTION_MODES = ("off", "nonzero", "always")
FACE_SOURCES = ("vrm", "arkit")
GAZE_MODES = ("bones", "shapes", "none")
#: Distance (m) of the Set/Eye look-at target in front of the head.
EYE_TARGET_DISTANCE = 1.0
_GAZE = {n: NAMES.index(n) for n in ("gaze_yaw", "gaze_pitch")}


class _Encoder(Protocol):
    """``pyavatar._core.VmcEncoder``: one Marionette frame's datagrams for a fixed set of bones and blendshapes."""

    def encode(self, t: float, root: np.ndarray, bones: np.ndarray, values: np.ndarray) -> list[bytes]:
        """Datagrams at sender time ``t``: root (7,), bones (n, 7) positions + quaternions, blend values (m,)."""
        ...


def _vrm_groups(keys: Mapping[str, str]) -> dict[str, str]:
    """Name → group (mouth / eyes / look / emotion / other) for one VRM vocabulary (``keys`` as in mappings)."""
    groups = {keys[v]: "mouth" for v in fm.VISEMES}
    groups.update({keys[k]: "eyes" for k in ("blink", "blink_left", "blink_right")})
    groups.update({keys[f"look_{d}"]: "look" for d in ("left", "right", "up", "down")})
    groups.update({keys[e]: "emotion" for e in fm.VRM0_EMOTIONS})
    return groups


def _arkit_group(name: str) -> str:
    if name.startswith("eyeLook"):
        return "look"
    if name.startswith("eye"):
        return "eyes"
    if name.startswith(("jaw", "mouth", "cheek", "tongue")):
        return "mouth"
    return "other"


#: (vocabulary, mapping name) → group.
GROUPS: dict[tuple[str, str], str] = {
    **{("vrm0", n): g for n, g in _vrm_groups(fm.VRM0_KEYS).items()},
    **{("vrm1", n): g for n, g in _vrm_groups(fm.VRM1_KEYS).items()},
    **{("arkit", n): _arkit_group(n) for n in fm.ARKIT_NAMES},
}
_TABLES = {"vrm0": fm.VRM0_NAMES, "vrm1": fm.VRM1_NAMES, "arkit": fm.ARKIT_NAMES}


def blend_names(
    vocabularies: Sequence[str], *, face_source: str | None = None, gaze: str = "bones", emotions: bool = True
) -> list[tuple[str, str, bool]]:
    """(vocabulary, mapping name, driven) for every blendshape a receiver gets, in sending order.

    The policy (one per receiver kind, as VSeeFace's hybrid mode): mouth and
    eye-lid shapes come from ONE source, ``face_source`` ``"vrm"`` (A/I/U/E/O,
    Blink*) or ``"arkit"`` (jawOpen, mouth*, eyeBlink*; default when ``arkit``
    is chosen) — the other source's mouth and eye names are sent as 0 (not
    driven). Look shapes are driven only with ``gaze="shapes"``, from the same
    source. Emotion clips (VRM only) are listed when ``emotions``. ``vrm1``
    implies ``vrm0`` (the VMC spec asks VRM 1 senders for the VRM 0 names too).
    """
    unknown = [n for n in vocabularies if n not in VOCABULARIES]
    if unknown or not vocabularies:
        raise ValueError(f"VMC blendshape vocabulary must be some of {VOCABULARIES}, got {list(vocabularies)}")
    chosen = set(vocabularies) | ({"vrm0"} if "vrm1" in vocabularies else set())
    source = face_source or ("arkit" if "arkit" in chosen else "vrm")
    if source not in FACE_SOURCES:
        raise ValueError(f"face_source must be one of {FACE_SOURCES}, got {source!r}")
    if source == "arkit" and "arkit" not in chosen:
        raise ValueError("face_source='arkit' needs the 'arkit' vocabulary")
    if gaze not in GAZE_MODES:
        raise ValueError(f"gaze must be one of {GAZE_MODES}, got {gaze!r}")
    out: list[tuple[str, str, bool]] = []
    for vocab in ("vrm0", "vrm1", "arkit"):
        if vocab not in chosen:
            continue
        mine = (vocab == "arkit") == (source == "arkit")
        for name in _TABLES[vocab]:
            group = GROUPS.get((vocab, name), "other")
            if group == "emotion" and not emotions:
                continue
            driven = {"mouth": mine, "eyes": mine, "look": mine and gaze == "shapes"}.get(group, True)
            out.append((vocab, name, driven))
    return out


def eye_target(gaze_yaw: float, gaze_pitch: float, distance: float = EYE_TARGET_DISTANCE) -> tuple[float, ...]:
    """``/VMC/Ext/Set/Eye`` target (Unity frame, relative to the Head) for pyavatar gaze angles in degrees."""
    yaw, pitch = math.radians(gaze_yaw), math.radians(gaze_pitch)
    # pyavatar yaw + turns toward the avatar's left (−X), pitch + looks down (−Y); forward is +Z
    return (
        -distance * math.cos(pitch) * math.sin(yaw),
        -distance * math.sin(pitch),
        distance * math.cos(pitch) * math.cos(yaw),
    )


def resolve_rest_positions(positions: str | Path | Mapping[str, Sequence[float]], bones: Sequence[str]) -> np.ndarray:
    """(len(bones), 3) float32 local positions of ``bones``, taken from ``positions``.

    ``positions``: ``"rest"`` (:data:`STANDARD_REST`), ``"zero"`` (rotation-only receivers), a ``.vrm``
    path (that model's bones) or a ``{bone: (x, y, z)}`` mapping over the standard rest.
    """
    if isinstance(positions, Mapping):
        unknown = sorted(set(positions) - set(bones))
        if unknown:
            raise ValueError(f"rest positions for bones that are not sent: {unknown} (sent: {list(bones)})")
        table: Mapping[str, Sequence[float]] = {**STANDARD_REST, **positions}
    elif positions == "rest":
        table = STANDARD_REST
    elif positions == "zero":
        table = {b: (0.0, 0.0, 0.0) for b in bones}
    else:
        path = Path(positions)
        if path.suffix.lower() not in (".vrm", ".glb"):
            raise ValueError(f"bone positions must be 'rest', 'zero' or a .vrm file, got {str(positions)!r}")
        table = rest_positions_from_vrm(path, bones)
    out = np.array([list(table[b]) for b in bones], np.float64).reshape(-1, 3)
    if not np.isfinite(out).all():
        raise ValueError("rest positions must be finite")
    return out.astype(np.float32)


class VmcSender(RateSender):
    """Sends VMC frames to a Marionette (``preset="marionette"``, port 39539) or a Performer (39540).

    Args:
        host: receiver address.
        port: receiver port (default: the preset's).
        preset: ``"marionette"`` or ``"performer"`` (see the module docstring for what each gets).
        rate: frames per second (30/60/120 typical).
        vocabularies: blendshape sets: ``vrm0``, ``vrm1``, ``arkit`` (Perfect Sync clip names).
        arkit_case: ARKit name case, ``"upper"`` (Perfect Sync ``JawOpen``) or ``"lower"``.
        face_source: who drives the mouth and eyelids, ``"vrm"`` or ``"arkit"`` (default: arkit when chosen).
        gaze: ``"bones"`` (LeftEye/RightEye rotations; Set/Eye for a Performer), ``"shapes"`` (Look*) or ``"none"``.
        emotions: emotion clips ``"off"`` (never: the receiver's hotkey expressions keep working),
            ``"nonzero"`` (while above 0, then one 0) or ``"always"`` (every frame).
        bone_positions: ``"rest"`` (standard humanoid), ``"zero"`` (rotation-only receivers), a ``.vrm``
            path, or ``{bone: (x, y, z)}`` overrides (metres, Unity frame, local to the parent bone).
        send_root: also send ``/VMC/Ext/Root/Pos`` (identity) every frame (pins the avatar to the origin).
        bundle: pack messages in bundles (False: one datagram per message).
        max_bytes: largest datagram (bundles are split to fit).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        preset: str = "marionette",
        rate: float = 60.0,
        vocabularies: Sequence[str] = ("vrm0",),
        arkit_case: str = "upper",
        face_source: str | None = None,
        gaze: str = "bones",
        emotions: str = "nonzero",
        bone_positions: str | Path | Mapping[str, Sequence[float]] = "rest",
        send_root: bool = False,
        bundle: bool = True,
        max_bytes: int = MAX_DATAGRAM,
        clock: Clock | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"VMC preset must be one of {list(PRESETS)}, got {preset!r}")
        if emotions not in EMOTION_MODES:
            raise ValueError(f"VMC emotions must be one of {EMOTION_MODES}, got {emotions!r}")
        if arkit_case not in ("upper", "lower"):
            raise ValueError(f"arkit_case must be 'upper' or 'lower', got {arkit_case!r}")
        port = PRESETS[preset] if port is None else port
        super().__init__(host, port, rate, clock=clock, name="vmc", max_bytes=max_bytes)
        self.preset, self.gaze, self.emotions, self.bundle = preset, gaze, emotions, bundle
        self.send_root = send_root and preset == "marionette"
        self.blends = blend_names(vocabularies, face_source=face_source, gaze=gaze, emotions=emotions != "off")
        self.vocabularies = sorted({v for v, _, _ in self.blends}, key=VOCABULARIES.index)
        self.face_source = face_source or ("arkit" if "arkit" in self.vocabularies else "vrm")
        self.names = [n[0].upper() + n[1:] if v == "arkit" and arkit_case == "upper" else n for v, n, _ in self.blends]
        self._emotion_rows = [i for i, (v, n, _) in enumerate(self.blends) if GROUPS.get((v, n)) == "emotion"]
        self._driven = np.array([d for _, _, d in self.blends])
        self.bones: list[str] = []
        if preset == "marionette":
            self.bones = ["Neck", "Head"] + (["LeftEye", "RightEye"] if gaze == "bones" else [])
        self.positions = resolve_rest_positions(bone_positions, self.bones) if self.bones else np.zeros((0, 3))
        self._root = np.array([0, 0, 0, 0, 0, 0, 1], np.float32)
        self._encoders: dict[tuple[int, ...], _Encoder] = {}
        self._shown: set[int] = set()  # emotion rows sent non-zero last frame ("nonzero" mode)
        self._idle = self.idle_frame()
        self._last: tuple[MotionFrame, np.ndarray, np.ndarray] | None = None

    def describe(self) -> str:
        """One line for a start-up banner."""
        root = "on" if self.send_root else "off"
        return (
            f"VMC ({self.preset}) to {self.host}:{self.port} at {self.rate:g} Hz, {len(self.names)} blendshapes; "
            f"mouth/eyes from {self.face_source}, emotions {self.emotions}, root {root}, bundles <= {self.max_bytes} B"
        )

    def idle_frame(self) -> MotionFrame:
        """The neutral pose, sent until the first frame arrives."""
        return MotionFrame(-1, 0, self.rate, -1, np.zeros(len(NAMES), np.float32), np.zeros(5, np.float32))

    def blend_values(self, frame: MotionFrame) -> np.ndarray:
        """Values of :attr:`names` for one frame (undriven names 0)."""
        return self._blend(FaceParams.from_array(frame.params), frame.visemes)

    def bone_array(self, params: np.ndarray) -> np.ndarray:
        """(n_bones, 7) local positions and Unity quaternions (x y z w) of :attr:`bones` for one frame."""
        return self._bones(FaceParams.from_array(params))

    def _blend(self, params: FaceParams, visemes: np.ndarray) -> np.ndarray:
        vis = np.asarray(visemes, np.float32).reshape(1, -1)
        table: dict[str, dict[str, np.ndarray]] = {}
        if "vrm0" in self.vocabularies:
            table["vrm0"] = fm.to_vrm0(params, vis)
        if "vrm1" in self.vocabularies:
            table["vrm1"] = fm.to_vrm1(params, vis)
        if "arkit" in self.vocabularies:
            table["arkit"] = fm.to_arkit(params)
        values = np.array([float(table[v][n][0]) for v, n, _ in self.blends], np.float32)
        values[~self._driven] = 0.0
        return values

    def _bones(self, params: FaceParams) -> np.ndarray:
        out = np.empty((len(self.bones), 7), np.float32)
        if not self.bones:
            return out
        rot = fm.to_unity_bones(params)
        out[:, :3] = self.positions
        for i, b in enumerate(self.bones):
            out[i, 3:] = rot[b][0]
        return out

    def _rows(self, values: np.ndarray) -> list[int]:
        """Indices of :attr:`names` to send this frame (the emotion policy)."""
        if self.emotions != "nonzero" or not self._emotion_rows:
            return list(range(len(self.names)))
        on = {i for i in self._emotion_rows if values[i] > 0.0}
        send = on | self._shown  # a clip that just went to 0 is sent once more as 0
        self._shown = on
        skip = set(self._emotion_rows) - send
        return [i for i in range(len(self.names)) if i not in skip]

    def _encoder(self, rows: tuple[int, ...]) -> _Encoder:
        enc = self._encoders.get(rows)
        if enc is None:
            enc = core().VmcEncoder(
                self.bones,
                [self.names[i] for i in rows],
                root=self.send_root,
                max_bytes=self.max_bytes,
                bundle=self.bundle,
            )
            self._encoders[rows] = enc
        return enc

    def _mapped(self, frame: MotionFrame) -> tuple[np.ndarray, np.ndarray]:
        """(blend values, bone array) of ``frame``, computed once per frame (the sender repeats frames)."""
        if self._last is None or self._last[0] is not frame:
            params = FaceParams.from_array(frame.params)
            self._last = (frame, self._blend(params, frame.visemes), self._bones(params))
        return self._last[1], self._last[2]

    def encode(self, frame: MotionFrame | None, t: float) -> list[bytes]:
        """One tick's datagrams for ``frame`` (None: the neutral pose) at sender time ``t`` seconds."""
        frame = frame or self._idle
        values, bones = self._mapped(frame)
        rows = self._rows(values)
        if self.preset == "performer":
            msgs = [message("/VMC/Ext/Blend/Val", self.names[i], float(values[i])) for i in rows]
            msgs.append(message("/VMC/Ext/Blend/Apply"))
            if self.gaze == "bones":
                x, y, z = eye_target(float(frame.params[_GAZE["gaze_yaw"]]), float(frame.params[_GAZE["gaze_pitch"]]))
                msgs.append(message("/VMC/Ext/Set/Eye", 1, x, y, z))
            return pack(msgs, self.max_bytes, self.bundle)
        return self._encoder(tuple(rows)).encode(float(t), self._root, bones, values[rows])
