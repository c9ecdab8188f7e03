"""Rest-pose local bone positions for VMC: a standard humanoid, or read from a VRM file's bones.

VMC receivers apply ``/VMC/Ext/Bone/Pos`` positions as the bone's local
position (VMC4UE always, EVMC4U while ``BonePositionSynchronize`` is on), so a
sender that knows no model must send plausible rest offsets, not zeros.
Positions are metres in Unity's frame (left-handed, +Y up, +Z the avatar's
forward, +X the avatar's right), relative to the bone's parent transform.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: Local rest positions of a standard ~1.6 m humanoid (VRM-like proportions).
#: Neck is relative to the upper chest, Head to the neck, the eyes to the head.
STANDARD_REST: dict[str, tuple[float, float, float]] = {
    "Neck": (0.0, 0.11, -0.005),
    "Head": (0.0, 0.08, 0.01),
    "LeftEye": (-0.031, 0.065, 0.045),
    "RightEye": (0.031, 0.065, 0.045),
}
_MAX_JSON = 64 << 20  # a VRM's glTF JSON chunk is a few MB at most


def unity_name(vrm_bone: str) -> str:
    """VRM humanoid bone name (``leftEye``) → Unity ``HumanBodyBones`` name (``LeftEye``)."""
    return vrm_bone[:1].upper() + vrm_bone[1:]


def _gltf_json(path: Path) -> dict:
    data = path.read_bytes()
    if len(data) < 20 or data[:4] != b"glTF":
        raise ValueError(f"{path}: not a VRM/glb file (no 'glTF' header)")
    version, _total = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ValueError(f"{path}: glTF container version {version}, expected 2")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != 0x4E4F534A or length > min(_MAX_JSON, len(data) - 20):
        raise ValueError(f"{path}: first chunk is not a JSON chunk of a sane size")
    try:
        doc = json.loads(data[20 : 20 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: glTF JSON chunk is invalid: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: glTF JSON is not an object")
    return doc


def _translation(node: Mapping, path: Path, index: int) -> tuple[float, float, float]:
    if "matrix" in node:
        m = node["matrix"]
        t = (m[12], m[13], m[14]) if isinstance(m, list) and len(m) == 16 else None
    else:
        t = node.get("translation", (0.0, 0.0, 0.0))
    if not isinstance(t, (list, tuple)) or len(t) != 3 or not all(isinstance(v, (int, float)) for v in t):
        raise ValueError(f"{path}: node {index} has no valid translation")
    if not np.isfinite(np.asarray(t, np.float64)).all():
        raise ValueError(f"{path}: node {index} translation is not finite")
    return float(t[0]), float(t[1]), float(t[2])


def rest_positions_from_vrm(path: str | Path, bones: Sequence[str] | None = None) -> dict[str, tuple[float, ...]]:
    """Local rest positions (Unity frame) of the humanoid bones of a VRM 0.x or 1.0 file.

    Reads only the glTF JSON (bone → node → translation). VRM 0.x models face
    −Z in glTF and become Unity by negating Z; VRM 1.0 models face +Z and
    negate X (UniVRM's conventions). ``bones``: Unity names to return (default:
    every humanoid bone of the file); a missing one raises ValueError.
    """
    path = Path(path)
    doc = _gltf_json(path)
    ext = doc.get("extensions") or {}
    nodes = doc.get("nodes") or []
    table: dict[str, object] = {}  # bone -> node index as the file states it (checked below)
    if isinstance(ext.get("VRMC_vrm"), dict):  # VRM 1.0: {"neck": {"node": 5}, ...}
        human = (ext["VRMC_vrm"].get("humanoid") or {}).get("humanBones") or {}
        table = {unity_name(k): v.get("node") for k, v in human.items() if isinstance(v, dict)}
        flip = np.array([-1.0, 1.0, 1.0])
    elif isinstance(ext.get("VRM"), dict):  # VRM 0.x: [{"bone": "neck", "node": 5}, ...]
        human = (ext["VRM"].get("humanoid") or {}).get("humanBones") or []
        table = {unity_name(str(b.get("bone"))): b.get("node") for b in human if isinstance(b, dict)}
        flip = np.array([1.0, 1.0, -1.0])
    else:
        raise ValueError(f"{path}: no VRM humanoid (extensions VRM or VRMC_vrm); is it a VRM file?")
    wanted = list(table) if bones is None else list(bones)
    out: dict[str, tuple[float, ...]] = {}
    for name in wanted:
        idx = table.get(name)
        if not isinstance(idx, int) or not 0 <= idx < len(nodes):
            raise ValueError(f"{path}: the VRM humanoid has no valid node for bone {name!r}")
        out[name] = tuple(float(v) for v in np.asarray(_translation(nodes[idx], path, idx)) * flip)
    return out
