"""FaceParams ↔ the vocabularies of other tools: ARKit 52, VRM 0.x / 1.0, VTube Studio, Unity bones.

Every ``to_*`` function takes a :class:`~pyavatar.face.params.FaceParams`
(T frames) and returns ``{name: (T,) float32 array}`` (bones: ``{bone: (T, 4)
quaternion (x, y, z, w)}``); every ``from_*`` function takes such a mapping
(scalars or arrays; missing names count as 0, names it does not know are
ignored, as VMC receivers do) and returns FaceParams. ``docs/face_params.md``
holds the full table.

Conventions (see the module constants):

* Sides are anatomical: ``*_left`` is the avatar's own left. FaceParams yaw
  and gaze yaw are positive toward the avatar's left, pitch positive nodding
  down, roll positive with the right ear going down.
* Unity frame (VMC): left-handed, +Y up, +Z avatar-forward, +X avatar-right;
  Euler angles compose like ``Quaternion.Euler`` (z, then x, then y), so
  Unity yaw = −head_yaw, pitch = head_pitch, roll = −head_roll.
* Gaze: :data:`GAZE_FULL_DEG` degrees is a full (1.0) look value.
* Visemes: each of aa/ih/ou/ee/oh is a mouth shape in (jaw_open, mouth_wide,
  mouth_round) (:data:`VISEME_SHAPES`); :func:`to_visemes` splits a mouth into
  them and :func:`from_visemes` sums them back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pyavatar.face.params import NAMES, FaceParams

Values = Mapping[str, "float | NDArray[Any]"]

GAZE_FULL_DEG = 30.0  # gaze angle that maps to a full look value (ARKit eyeLook*, VRM Look*, VTS EyeX/Y)
VTS_ANGLE_RANGE = 30.0  # VTube Studio FaceAngleX/Y input range ±30° (Live2D ParamAngleX/Y)
VTS_ROLL_RANGE = 90.0  # VTube Studio FaceAngleZ input range ±90° (sent 1:1 in degrees)
VTS_POSITION_SCALE = 20.0  # VTube Studio FacePosition units per face height (±0.5 face height = ±10)
VTS_POSITION_RANGE = 15.0  # VTube Studio FacePositionX/Y/Z input range ±15
NECK_SHARE = 0.4  # fraction of the head rotation carried by the Neck bone (Head carries the rest)

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
)

VISEMES: tuple[str, ...] = ("aa", "ih", "ou", "ee", "oh")
# (jaw_open, mouth_wide, mouth_round) of each viseme at weight 1.
VISEME_SHAPES: dict[str, tuple[float, float, float]] = {
    "aa": (1.0, 0.0, 0.0),
    "ih": (0.15, 1.0, 0.0),
    "ee": (0.4, 1.0, 0.0),
    "ou": (0.15, 0.0, 1.0),
    "oh": (0.5, 0.0, 1.0),
}
VRM0_VISEMES = {"aa": "A", "ih": "I", "ou": "U", "ee": "E", "oh": "O"}
VRM0_EMOTIONS = {"happy": "Joy", "angry": "Angry", "sad": "Sorrow", "relaxed": "Fun", "surprised": "Surprised"}
VRM0_NAMES: tuple[str, ...] = (
    "Neutral",
    "A",
    "I",
    "U",
    "E",
    "O",
    "Blink",
    "Blink_L",
    "Blink_R",
    "Joy",
    "Angry",
    "Sorrow",
    "Fun",
    "Surprised",
    "LookUp",
    "LookDown",
    "LookLeft",
    "LookRight",
)
VRM1_NAMES: tuple[str, ...] = (
    "neutral",
    "aa",
    "ih",
    "ou",
    "ee",
    "oh",
    "blink",
    "blinkLeft",
    "blinkRight",
    "happy",
    "angry",
    "sad",
    "relaxed",
    "surprised",
    "lookUp",
    "lookDown",
    "lookLeft",
    "lookRight",
)
VTS_NAMES: tuple[str, ...] = (
    "FaceAngleX",
    "FaceAngleY",
    "FaceAngleZ",
    "FacePositionX",
    "FacePositionY",
    "FacePositionZ",
    "MouthOpen",
    "MouthSmile",
    "Brows",
    "BrowLeftY",
    "BrowRightY",
    "EyeOpenLeft",
    "EyeOpenRight",
    "EyeLeftX",
    "EyeLeftY",
    "EyeRightX",
    "EyeRightY",
    "FaceAngry",
    "VoiceA",
    "VoiceI",
    "VoiceU",
    "VoiceE",
    "VoiceO",
    "VoiceSilence",
    "VoiceVolume",
    "VoiceFrequency",
    "VoiceVolumePlusMouthOpen",
    "VoiceFrequencyPlusMouthSmile",
)
UNITY_BONES: tuple[str, ...] = ("Neck", "Head", "LeftEye", "RightEye")


# --------------------------------------------------------------------------------------------- helpers


def _frames(values: Values, n: int | None) -> int:
    sizes = {int(np.size(v)) for v in values.values() if np.ndim(v) > 0}
    if n is not None:
        sizes.add(n)
    if len(sizes) > 1:
        raise ValueError(f"values have different lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _getter(values: Values, t: int, normalize: bool = False) -> Callable[[str], NDArray[np.float64]]:
    """get(name) → (t,) float64 array from ``values`` (0 when missing); rejects NaN/inf naming the key."""
    table: dict[str, NDArray[np.float64]] = {}
    for k, v in values.items():
        arr = np.broadcast_to(np.asarray(v, dtype=np.float64), (t,))
        if not np.isfinite(arr).all():
            raise ValueError(f"value of {k!r} is not finite")
        key = _normalize_arkit(k) if normalize else k
        table[key] = table.get(key, 0.0) + arr

    def get(name: str) -> NDArray[np.float64]:
        return table.get(name, np.zeros(t))

    return get


def _out(d: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Every value clamped to 0..1 as float32 (one array op for all names: outputs call this every frame)."""
    stacked = np.clip(np.stack([np.asarray(v, np.float64) for v in d.values()]), 0.0, 1.0).astype(np.float32)
    return dict(zip(d, stacked, strict=True))


def _fields(params: FaceParams) -> dict[str, NDArray[Any]]:
    """Every field as a (T,) float64 column."""
    values = params.values.astype(np.float64)
    return {k: values[:, i] for i, k in enumerate(NAMES)}


def _pos(x: NDArray[Any]) -> NDArray[Any]:
    return np.maximum(x, 0.0)


def _look(gaze_yaw: NDArray[Any], gaze_pitch: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """Look amounts toward the avatar's left/right and up/down (0..1)."""
    return {
        "left": _pos(gaze_yaw) / GAZE_FULL_DEG,
        "right": _pos(-gaze_yaw) / GAZE_FULL_DEG,
        "down": _pos(gaze_pitch) / GAZE_FULL_DEG,
        "up": _pos(-gaze_pitch) / GAZE_FULL_DEG,
    }


# ----------------------------------------------------------------------------------------------- visemes


def to_visemes(params: FaceParams) -> dict[str, NDArray[Any]]:
    """Split each frame's (jaw_open, mouth_wide, mouth_round) into aa/ih/ou/ee/oh weights.

    Rounding is shared by ou (closed) and oh (open), spreading by ih (closed)
    and ee (open); the open share f is what the jaw needs beyond the closed
    shapes, and jaw still unexplained becomes aa. :func:`from_visemes` inverts
    this exactly whenever jaw_open ≥ 0.15·(mouth_wide + mouth_round) and the
    sums stay within 0..1.
    """
    j, w, r = (params[k].astype(np.float64) for k in ("jaw_open", "mouth_wide", "mouth_round"))
    s = VISEME_SHAPES
    closed = s["ou"][0] * r + s["ih"][0] * w
    room = (s["oh"][0] - s["ou"][0]) * r + (s["ee"][0] - s["ih"][0]) * w
    extra = _pos(j - closed)
    f = np.where(room > 0, np.minimum(extra / np.where(room > 0, room, 1.0), 1.0), 0.0)
    return _out({"aa": extra - f * room, "ih": (1 - f) * w, "ou": (1 - f) * r, "ee": f * w, "oh": f * r})


def from_visemes(visemes: Values, n: int | None = None) -> dict[str, NDArray[Any]]:
    """(jaw_open, mouth_wide, mouth_round) as ``{field: (T,) array}`` from viseme weights (sum of shapes, clamped)."""
    t = _frames(visemes, n)
    get = _getter(visemes, t)
    acc = np.zeros((3, t))
    for v, shape in VISEME_SHAPES.items():
        acc += np.asarray(shape)[:, None] * get(v)[None, :]
    fields = ("jaw_open", "mouth_wide", "mouth_round")
    return {k: np.clip(acc[i], 0, 1).astype(np.float32) for i, k in enumerate(fields)}


# ------------------------------------------------------------------------------------------------- ARKit

_ARKIT_LOOKUP = {n.lower(): n for n in ARKIT_NAMES}
_ARKIT_ROW = {n: i for i, n in enumerate(ARKIT_NAMES)}
_ARKIT_UPPER = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)


def _normalize_arkit(name: str) -> str:
    """Any common spelling (``eyeBlinkLeft``, ``EyeBlinkLeft``, ``eyeBlink_L``) → lowerCamel ARKit name."""
    key = re.sub(r"_([LR])$", lambda m: "Left" if m.group(1) == "L" else "Right", name)
    return _ARKIT_LOOKUP.get(key.lower(), name)


def to_arkit(params: FaceParams, *, case: str = "lower") -> dict[str, NDArray[Any]]:
    """All 52 ARKit blendshapes (0..1); ``case`` ``"lower"`` (eyeBlinkLeft) or ``"upper"`` (Perfect Sync EyeBlinkLeft).

    Shapes FaceParams cannot express are sent as 0 (the full set every frame).
    Mouth rounding is split into pucker (closed) and funnel (open) by jaw_open.
    """
    if case not in ("lower", "upper"):
        raise ValueError(f"to_arkit: case must be 'lower' or 'upper', got {case!r}")
    p = _fields(params)
    look = _look(p["gaze_yaw"], p["gaze_pitch"])
    d = dict(
        eyeBlinkLeft=p["blink_left"],
        eyeBlinkRight=p["blink_right"],
        eyeWideLeft=p["eye_wide"],
        eyeWideRight=p["eye_wide"],
        # looking toward the avatar's left: the left eye looks out, the right eye in
        eyeLookOutLeft=look["left"],
        eyeLookInRight=look["left"],
        eyeLookInLeft=look["right"],
        eyeLookOutRight=look["right"],
        eyeLookDownLeft=look["down"],
        eyeLookDownRight=look["down"],
        eyeLookUpLeft=look["up"],
        eyeLookUpRight=look["up"],
        jawOpen=p["jaw_open"],
        mouthPucker=p["mouth_round"] * (1 - p["jaw_open"]),
        mouthFunnel=p["mouth_round"] * p["jaw_open"],
        mouthStretchLeft=p["mouth_wide"],
        mouthStretchRight=p["mouth_wide"],
        mouthSmileLeft=p["smile_left"],
        mouthSmileRight=p["smile_right"],
        mouthFrownLeft=p["mouth_frown"],
        mouthFrownRight=p["mouth_frown"],
        browInnerUp=(p["brow_up_left"] + p["brow_up_right"]) / 2,
        browOuterUpLeft=p["brow_up_left"],
        browOuterUpRight=p["brow_up_right"],
        browDownLeft=p["brow_down"],
        browDownRight=p["brow_down"],
    )
    table = np.zeros((len(ARKIT_NAMES), len(params)))  # shapes FaceParams cannot express stay 0
    for k, v in d.items():
        table[_ARKIT_ROW[k]] = v
    rows = np.clip(table, 0.0, 1.0).astype(np.float32)
    return dict(zip(_ARKIT_UPPER if case == "upper" else ARKIT_NAMES, rows, strict=True))


def from_arkit(values: Values, n: int | None = None) -> FaceParams:
    """FaceParams from ARKit blendshapes in any common spelling (lowerCamel, UpperCamel, ``_L``/``_R``).

    Left and right shapes that FaceParams holds once (eye wide, stretch, frown,
    brow down) are averaged; head pose and emotions are 0 (ARKit has none).
    """
    t = _frames(values, n)
    get = _getter(values, t, normalize=True)

    def mean(a: str, b: str) -> NDArray[np.float64]:
        return (get(a) + get(b)) / 2

    yaw = (mean("eyeLookOutLeft", "eyeLookInRight") - mean("eyeLookInLeft", "eyeLookOutRight")) * GAZE_FULL_DEG
    pitch = (mean("eyeLookDownLeft", "eyeLookDownRight") - mean("eyeLookUpLeft", "eyeLookUpRight")) * GAZE_FULL_DEG
    outer_l, outer_r = get("browOuterUpLeft"), get("browOuterUpRight")
    outer = (outer_l + outer_r) > 0  # senders with only browInnerUp raise both brows
    return FaceParams.from_fields(
        t,
        blink_left=get("eyeBlinkLeft"),
        blink_right=get("eyeBlinkRight"),
        eye_wide=mean("eyeWideLeft", "eyeWideRight"),
        gaze_yaw=yaw,
        gaze_pitch=pitch,
        jaw_open=get("jawOpen"),
        mouth_round=get("mouthPucker") + get("mouthFunnel"),
        mouth_wide=mean("mouthStretchLeft", "mouthStretchRight"),
        smile_left=get("mouthSmileLeft"),
        smile_right=get("mouthSmileRight"),
        mouth_frown=mean("mouthFrownLeft", "mouthFrownRight"),
        brow_up_left=np.where(outer, outer_l, get("browInnerUp")),
        brow_up_right=np.where(outer, outer_r, get("browInnerUp")),
        brow_down=mean("browDownLeft", "browDownRight"),
    )


# --------------------------------------------------------------------------------------------------- VRM


def _viseme_weights(params: FaceParams, visemes: NDArray[Any] | None) -> dict[str, NDArray[Any]]:
    """aa/ih/ou/ee/oh: the lip engine's (T, 5) weights when given, else :func:`to_visemes` of the mouth fields."""
    if visemes is None:
        return to_visemes(params)
    v = np.asarray(visemes, np.float64).reshape(-1, len(VISEMES))
    if len(v) != len(params):
        raise ValueError(f"visemes: expected ({len(params)}, {len(VISEMES)}) weights, got {np.shape(visemes)}")
    if not np.isfinite(v).all():
        raise ValueError("visemes: weights are not finite")
    v = np.clip(v, 0.0, 1.0)
    return {name: v[:, i] for i, name in enumerate(VISEMES)}


def _vrm(params: FaceParams, names: Mapping[str, str], visemes: NDArray[Any] | None) -> dict[str, NDArray[Any]]:
    """Shared VRM 0.x / 1.0 body; ``names`` maps canonical keys to the target vocabulary."""
    p = _fields(params)
    both = np.minimum(p["blink_left"], p["blink_right"])
    look = _look(p["gaze_yaw"], p["gaze_pitch"])
    d: dict[str, NDArray[Any]] = {names["neutral"]: np.zeros(len(params))}
    d.update({names[v]: w for v, w in _viseme_weights(params, visemes).items()})
    d[names["blink"]] = both
    d[names["blink_left"]] = p["blink_left"] - both
    d[names["blink_right"]] = p["blink_right"] - both
    d.update({names[e]: p[e] for e in VRM0_EMOTIONS})
    d.update({names[f"look_{k}"]: v for k, v in look.items()})
    return _out(d)


def _from_vrm(values: Values, n: int | None, names: Mapping[str, str]) -> FaceParams:
    t = _frames(values, n)
    get = _getter(values, t)
    mouth = from_visemes({v: get(names[v]) for v in VISEMES}, t)
    both = get(names["blink"])
    return FaceParams.from_fields(
        t,
        **mouth,
        blink_left=both + get(names["blink_left"]),
        blink_right=both + get(names["blink_right"]),
        gaze_yaw=(get(names["look_left"]) - get(names["look_right"])) * GAZE_FULL_DEG,
        gaze_pitch=(get(names["look_down"]) - get(names["look_up"])) * GAZE_FULL_DEG,
        **{e: get(names[e]) for e in VRM0_EMOTIONS},
    )


#: Canonical key → VRM 0.x preset name (visemes, emotions, blink, look).
VRM0_KEYS = {
    "neutral": "Neutral",
    **VRM0_VISEMES,
    **VRM0_EMOTIONS,
    "blink": "Blink",
    "blink_left": "Blink_L",
    "blink_right": "Blink_R",
    "look_left": "LookLeft",
    "look_right": "LookRight",
    "look_up": "LookUp",
    "look_down": "LookDown",
}
#: Canonical key → VRM 1.0 expression name.
VRM1_KEYS = {
    "neutral": "neutral",
    **{v: v for v in VISEMES},
    **{e: e for e in VRM0_EMOTIONS},
    "blink": "blink",
    "blink_left": "blinkLeft",
    "blink_right": "blinkRight",
    "look_left": "lookLeft",
    "look_right": "lookRight",
    "look_up": "lookUp",
    "look_down": "lookDown",
}


def to_vrm0(params: FaceParams, visemes: NDArray[Any] | None = None) -> dict[str, NDArray[Any]]:
    """VRM 0.x BlendShape presets as sent over VMC (A/I/U/E/O, Blink, Joy, …, Look*; plus VSeeFace's Surprised).

    Blink = min(left, right) with the residuals on Blink_L / Blink_R; LookLeft
    is the avatar looking to its own left. A/I/U/E/O are ``visemes`` ((T, 5)
    aa ih ou ee oh from the lip engine) when given, else :func:`to_visemes`.
    """
    return _vrm(params, VRM0_KEYS, visemes)


def from_vrm0(values: Values, n: int | None = None) -> FaceParams:
    """FaceParams from VRM 0.x preset values (mouth from the visemes, blink = Blink + Blink_L/R)."""
    return _from_vrm(values, n, VRM0_KEYS)


def to_vrm1(params: FaceParams, visemes: NDArray[Any] | None = None) -> dict[str, NDArray[Any]]:
    """VRM 1.0 expressions (aa/ih/ou/ee/oh, blink*, happy/angry/sad/relaxed/surprised, look*, neutral)."""
    return _vrm(params, VRM1_KEYS, visemes)


def from_vrm1(values: Values, n: int | None = None) -> FaceParams:
    """FaceParams from VRM 1.0 expression values."""
    return _from_vrm(values, n, VRM1_KEYS)


# ------------------------------------------------------------------------------------------ VTube Studio


def to_vtube_studio(
    params: FaceParams, visemes: NDArray[Any] | None = None, *, invert: tuple[bool, bool, bool] = (False, False, False)
) -> dict[str, NDArray[Any]]:
    """VTube Studio default input parameters in their default ranges.

    Signs follow Live2D's standard parameters, which VTS's default bindings
    feed 1:1 (ParamAngleX/Z positive toward the screen's right, ParamAngleY
    positive up): FaceAngleX = head_yaw (toward the avatar's left = the
    viewer's right), FaceAngleY = −head_pitch, FaceAngleZ = −head_roll (top
    of the head toward the viewer's right); X/Y clamp to ±30, Z to ±90.
    ``invert`` flips X/Y/Z for models rigged the other way.
    FacePosition* = 20 × head_x/y/z, clamped to ±15. MouthSmile, Brows and
    Brow*Y are 0.5 at rest (1 = full smile / brows up, 0 = full frown /
    brows down); EyeOpen* = 1 − blink; Eye*X/Y = gaze (viewer's right / up
    positive, ±1 at :data:`GAZE_FULL_DEG`); Voice* = visemes (``visemes`` or
    :func:`to_visemes`); VoiceVolume = Σ visemes, VoiceFrequency = 0.5 +
    0.5·(spread − rounded visemes), the Plus* pair = the larger of the two.
    """
    p = _fields(params)
    sx, sy, sz = (-1.0 if f else 1.0 for f in invert)
    angle = VTS_ANGLE_RANGE
    pos = VTS_POSITION_RANGE
    smile = (p["smile_left"] + p["smile_right"]) / 2 - p["mouth_frown"]
    gx = np.clip(p["gaze_yaw"] / GAZE_FULL_DEG, -1, 1)
    gy = np.clip(-p["gaze_pitch"] / GAZE_FULL_DEG, -1, 1)
    vis = _viseme_weights(params, visemes)
    volume = np.clip(sum(vis.values()), 0, 1)
    freq = np.clip(0.5 + 0.5 * (vis["ih"] + vis["ee"] - vis["ou"] - vis["oh"]), 0, 1)
    mouth_smile = np.clip(0.5 + 0.5 * smile, 0, 1)
    d = {
        "FaceAngleX": np.clip(sx * p["head_yaw"], -angle, angle),
        "FaceAngleY": np.clip(-sy * p["head_pitch"], -angle, angle),
        "FaceAngleZ": np.clip(-sz * p["head_roll"], -VTS_ROLL_RANGE, VTS_ROLL_RANGE),
        "FacePositionX": np.clip(p["head_x"] * VTS_POSITION_SCALE, -pos, pos),
        "FacePositionY": np.clip(p["head_y"] * VTS_POSITION_SCALE, -pos, pos),
        "FacePositionZ": np.clip(p["head_z"] * VTS_POSITION_SCALE, -pos, pos),
        "MouthOpen": p["jaw_open"],
        "MouthSmile": mouth_smile,
        "Brows": np.clip(0.5 + 0.25 * (p["brow_up_left"] + p["brow_up_right"]) - 0.5 * p["brow_down"], 0, 1),
        "BrowLeftY": np.clip(0.5 + 0.5 * (p["brow_up_left"] - p["brow_down"]), 0, 1),
        "BrowRightY": np.clip(0.5 + 0.5 * (p["brow_up_right"] - p["brow_down"]), 0, 1),
        "EyeOpenLeft": 1 - p["blink_left"],
        "EyeOpenRight": 1 - p["blink_right"],
        "EyeLeftX": gx,
        "EyeLeftY": gy,
        "EyeRightX": gx,
        "EyeRightY": gy,
        "FaceAngry": p["angry"],
        "VoiceA": vis["aa"],
        "VoiceI": vis["ih"],
        "VoiceU": vis["ou"],
        "VoiceE": vis["ee"],
        "VoiceO": vis["oh"],
        "VoiceSilence": 1 - volume,
        "VoiceVolume": volume,
        "VoiceFrequency": freq,
        "VoiceVolumePlusMouthOpen": np.maximum(volume, p["jaw_open"]),
        "VoiceFrequencyPlusMouthSmile": np.maximum(freq, mouth_smile),
    }
    return {k: np.asarray(v, np.float32) for k, v in d.items()}


def from_vtube_studio(
    values: Values, n: int | None = None, *, invert: tuple[bool, bool, bool] = (False, False, False)
) -> FaceParams:
    """FaceParams from VTube Studio parameter values (inverse of :func:`to_vtube_studio`).

    Missing MouthSmile/Brow*Y count as their rest value 0.5 and missing
    EyeOpen* as 1 (open). The mouth shape comes from MouthOpen (jaw) and, when
    any Voice* value is given, their visemes' width and rounding.
    """
    t = _frames(values, n)
    get = _getter(values, t)

    def rest(name: str, default: float) -> NDArray[Any]:
        return get(name) if name in values else np.full(t, default)

    sx, sy, sz = (-1.0 if f else 1.0 for f in invert)
    pos = VTS_POSITION_SCALE
    smile = 2 * rest("MouthSmile", 0.5) - 1
    left, right = 2 * rest("BrowLeftY", 0.5) - 1, 2 * rest("BrowRightY", 0.5) - 1
    down = _pos(-(left + right) / 2)
    mouth = from_visemes({v: get(f"Voice{c}") for v, c in zip(VISEMES, "AIUEO", strict=True)}, t)
    return FaceParams.from_fields(
        t,
        head_yaw=sx * get("FaceAngleX"),
        head_pitch=-sy * get("FaceAngleY"),
        head_roll=-sz * get("FaceAngleZ"),
        head_x=get("FacePositionX") / pos,
        head_y=get("FacePositionY") / pos,
        head_z=get("FacePositionZ") / pos,
        jaw_open=get("MouthOpen"),
        mouth_wide=mouth["mouth_wide"],
        mouth_round=mouth["mouth_round"],
        smile_left=_pos(smile),
        smile_right=_pos(smile),
        mouth_frown=_pos(-smile),
        brow_up_left=_pos(left),
        brow_up_right=_pos(right),
        brow_down=down,
        blink_left=1 - rest("EyeOpenLeft", 1.0),
        blink_right=1 - rest("EyeOpenRight", 1.0),
        gaze_yaw=(get("EyeLeftX") + get("EyeRightX")) / 2 * GAZE_FULL_DEG,
        gaze_pitch=-(get("EyeLeftY") + get("EyeRightY")) / 2 * GAZE_FULL_DEG,
        angry=get("FaceAngry"),
    )


# ---------------------------------------------------------------------------------------- Unity / VMC


def quat_mul(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    """Hamilton product of (…, 4) quaternions stored (x, y, z, w): rotation b first, then a."""
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def unity_euler_to_quat(x: NDArray[Any], y: NDArray[Any], z: NDArray[Any]) -> NDArray[Any]:
    """``Quaternion.Euler(x, y, z)`` for (T,) degree arrays: rotate about z, then x, then y → (T, 4) (x, y, z, w)."""
    rad = np.radians(np.stack(np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, np.float64)) for v in (x, y, z)))))
    (cx, cy, cz), (sx, sy, sz) = np.cos(rad / 2), np.sin(rad / 2)
    # the product q_y · q_x · q_z of the three axis rotations, expanded
    return np.stack(
        [
            cy * sx * cz + sy * cx * sz,
            sy * cx * cz - cy * sx * sz,
            cy * cx * sz - sy * sx * cz,
            cy * cx * cz + sy * sx * sz,
        ],
        axis=-1,
    )


def quat_to_unity_euler(q: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Inverse of :func:`unity_euler_to_quat`: (T, 4) → x, y, z degrees (x in ±90)."""
    q = np.asarray(q, np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    x, y, z, w = q.T
    r10 = 2 * (x * y + w * z)
    r11 = 1 - 2 * (x * x + z * z)
    r12 = 2 * (y * z - w * x)
    r02 = 2 * (x * z + w * y)
    r22 = 1 - 2 * (x * x + y * y)
    ex = np.degrees(np.arcsin(np.clip(-r12, -1, 1)))
    ey = np.degrees(np.arctan2(r02, r22))
    ez = np.degrees(np.arctan2(r10, r11))
    return ex, ey, ez


_HY, _HP, _HR, _GY, _GP = (NAMES.index(n) for n in ("head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch"))


def _quat_power(q: NDArray[Any], share: float | NDArray[Any]) -> NDArray[Any]:
    """Rotation by ``share`` (scalar or (T,)) of the angle of unit quaternions q (T, 4) about the same axis."""
    q = np.where(q[:, 3:4] < 0, -q, q)
    angle = 2 * np.arccos(np.clip(q[:, 3], -1, 1))
    s = np.sin(angle / 2)
    axis = np.where(s[:, None] > 1e-12, q[:, :3] / np.where(s > 1e-12, s, 1)[:, None], 0.0)
    half = angle * share / 2
    return np.concatenate([axis * np.sin(half)[:, None], np.cos(half)[:, None]], axis=1)


def to_unity_bones(params: FaceParams, *, neck_share: float = NECK_SHARE) -> dict[str, NDArray[Any]]:
    """Local rotations (T, 4) (x, y, z, w) of HumanBodyBones Neck, Head, LeftEye and RightEye.

    The head rotation (Unity Euler: yaw = −head_yaw, pitch = head_pitch, roll
    = −head_roll) is split between Neck (``neck_share`` of the angle) and Head
    (the rest) about the same axis, so Neck·Head is exactly the head rotation.
    Both eyes get the gaze rotation. Rotations are relative to a rest pose
    whose bone axes match the avatar frame (VRM normalised bones).
    """
    if not 0.0 <= neck_share <= 1.0:
        raise ValueError(f"to_unity_bones: neck_share must be within 0..1, got {neck_share}")
    t = len(params)
    v = params.values
    # head and gaze rotations in one batch (outputs call this every frame)
    q = unity_euler_to_quat(
        np.concatenate([v[:, _HP], v[:, _GP]]),
        -np.concatenate([v[:, _HY], v[:, _GY]]),
        np.concatenate([-v[:, _HR], np.zeros(t)]),
    )
    head = q[:t]
    split = _quat_power(np.concatenate([head, head]), np.repeat([neck_share, 1.0 - neck_share], t))
    out = np.concatenate([split, q[t:], q[t:]]).astype(np.float32)
    return {b: out[i * t : (i + 1) * t] for i, b in enumerate(("Neck", "Head", "LeftEye", "RightEye"))}


def from_unity_bones(bones: Mapping[str, NDArray[Any]]) -> FaceParams:
    """Head angles from Neck·Head local rotations and gaze from the eye bones (mean of both when given).

    Missing bones count as identity; other fields are 0.
    """
    arrays = {k: np.asarray(v, np.float64).reshape(-1, 4) for k, v in bones.items() if k in UNITY_BONES}
    for k, v in arrays.items():
        if not np.isfinite(v).all():
            raise ValueError(f"from_unity_bones: bone {k!r} is not finite")
    t = max((len(v) for v in arrays.values()), default=1)
    ident = np.tile([0.0, 0.0, 0.0, 1.0], (t, 1))
    neck, head = arrays.get("Neck", ident), arrays.get("Head", ident)
    px, py, pz = quat_to_unity_euler(quat_mul(neck, head))
    eyes = [arrays[k] for k in ("LeftEye", "RightEye") if k in arrays]
    ex: NDArray[np.float64]
    ey: NDArray[np.float64]
    if eyes:
        ex, ey, _ = (
            np.asarray(sum(parts)) / len(eyes) for parts in zip(*(quat_to_unity_euler(e) for e in eyes), strict=True)
        )
    else:
        ex, ey = np.zeros(t), np.zeros(t)
    return FaceParams.from_fields(t, head_pitch=px, head_yaw=-py, head_roll=-pz, gaze_pitch=ex, gaze_yaw=-ey)
