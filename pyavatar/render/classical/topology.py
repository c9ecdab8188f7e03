"""Named parts of MediaPipe's 478-point face mesh used by the classical renderer.

Index lists are MediaPipe's landmark numbering. "Right" and "left" here are
MediaPipe's names (the subject's own sides); the renderer decides sides by
position in the image, so mirrored portraits work too.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

NUM_LANDMARKS = 478
NUM_MESH = 468  # landmarks that belong to the tesselated surface (the rest are iris points)

FACE_OVAL = (
    10,
    109,
    67,
    103,
    54,
    21,
    162,
    127,
    234,
    93,
    132,
    58,
    172,
    136,
    150,
    149,
    176,
    148,
    152,
    377,
    400,
    378,
    379,
    365,
    397,
    288,
    361,
    323,
    454,
    356,
    389,
    251,
    284,
    332,
    297,
    338,
)

# Eye openings: two lid chains sharing the corners (outer corner first).
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)

# Lips: outer and inner contours, upper and lower, corner to corner.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
INNER_CORNERS = (78, 308)

RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)

NOSE_TIP = 1
NOSE_BOTTOM = 2
FOREHEAD = 10
CHIN = 152
CHEEK_EDGES = (234, 454)

# 3-cliques of MediaPipe's tesselation edges that are not faces of the surface.
_NOT_FACES = {(49, 64, 129), (279, 294, 358)}


def _face_mesh_connections() -> ModuleType:
    """MediaPipe's edge-list file (plain data), read without importing the mediapipe package.

    Its import takes seconds, which a portrait answered from the landmark cache never needs to spend.
    """
    spec = importlib.util.find_spec("mediapipe")  # locates the package without running it
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / "python" / "solutions" / "face_mesh_connections.py" if folders else None
    if path is None or not path.is_file():
        raise ImportError("the classical renderer needs `pip install mediapipe==0.10.21` (face mesh topology)")
    data_spec = importlib.util.spec_from_file_location("pyavatar._mediapipe_face_mesh_connections", path)
    module = importlib.util.module_from_spec(data_spec)
    data_spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def tesselation() -> np.ndarray:
    """(852, 3) int32 triangles of the face surface, from the edge list bundled with ``mediapipe``."""
    FACEMESH_TESSELATION = _face_mesh_connections().FACEMESH_TESSELATION  # noqa: N806 - mediapipe's name
    neighbours: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    faces = set()
    for a, b in FACEMESH_TESSELATION:
        for c in neighbours[a] & neighbours[b]:
            faces.add(tuple(sorted((a, b, c))))
    faces -= _NOT_FACES
    return np.array(sorted(faces), dtype=np.int32)


@lru_cache(maxsize=1)
def neighbours() -> tuple[frozenset[int], ...]:
    """Tesselation neighbours of every surface landmark."""
    out: list[set[int]] = [set() for _ in range(NUM_MESH)]
    for a, b, c in tesselation():
        out[a] |= {b, c}
        out[b] |= {a, c}
        out[c] |= {a, b}
    return tuple(frozenset(s) for s in out)


def rings_around(chain: tuple[int, ...], count: int) -> list[list[int]]:
    """Successive rings of surface landmarks around ``chain`` (ring k = neighbours of ring k−1 not seen yet)."""
    nb = neighbours()
    seen = set(chain)
    current = set(chain)
    rings = []
    for _ in range(count):
        nxt = {n for v in current for n in nb[v]} - seen
        rings.append(sorted(nxt))
        seen |= nxt
        current = nxt
    return rings
