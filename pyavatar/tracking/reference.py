"""Expression from a reference: a face image or video → FaceParams expression offsets (relative to its neutral).

A video reference is its own neutral: the frames with the least open mouth
give the neutral face and the expression is each field's 80th percentile over
the clip (the expression the reference holds, not a passing peak). An image
reference needs a neutral image of the same face (a lone photo carries no
neutral to compare with). The result feeds the motion's emotion offsets
(``pyavatar.motion.compose.compose(..., emotion=...)``) through
:func:`emotion_offsets`, scaled by an intensity and per region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyavatar.tracking import mesh as m
from pyavatar.tracking.features import Gains, neutral_geometry
from pyavatar.tracking.mesh import FaceMesh
from pyavatar.tracking.regions import REGIONS, check_weights
from pyavatar.tracking.tracker import CHANNELS, measure, neutral_mesh

#: Fields a reference expression sets (head pose and gaze are motion, not expression).
EXPRESSION_FIELDS = REGIONS["brows"] + REGIONS["expression"] + ("eye_wide", "mouth_wide", "mouth_round", "jaw_open")


def _meshes(frames: Sequence[np.ndarray], static: bool) -> list[np.ndarray]:
    with FaceMesh(static=static) as mesh:
        return [p for p in (mesh.process(f) for f in frames) if p is not None]


def reference_expression(
    frames: Sequence[np.ndarray],
    *,
    neutral: Sequence[np.ndarray] | None = None,
    percentile: float = 80.0,
    gains: Gains | None = None,
) -> dict[str, float]:
    """``{field: value}`` of the expression in RGB ``frames`` (one image or a video's frames).

    ``neutral``: frames of the same face at rest (required for a single image;
    default for a video: its own least-open-mouth frames).
    """
    found = _meshes(frames, static=len(frames) == 1)
    if not found:
        raise ValueError("expression reference: no face found in the reference")
    if neutral is not None:
        rest = _meshes(neutral, static=len(neutral) == 1)
        if not rest:
            raise ValueError("expression reference: no face found in the neutral frames")
    elif len(found) < 2:
        raise ValueError("an image expression reference needs a neutral image of the same face (or use a video)")
    else:
        gaps = np.array(
            [
                (p[m.OUTER_LOWER_MID, 1] - p[m.OUTER_UPPER_MID, 1]) / np.linalg.norm(p[m.CHIN, :2] - p[m.FOREHEAD, :2])
                for p in found
            ]
        )
        rest = [found[i] for i in np.argsort(gaps)[: max(1, len(found) // 5)]]
    geometry = neutral_geometry(neutral_mesh(rest))
    values = np.stack([measure(geometry, p, gains or Gains())[0] for p in found])
    return {f: float(np.percentile(values[:, CHANNELS.index(f)], percentile)) for f in EXPRESSION_FIELDS}


def emotion_offsets(
    expression: dict[str, float], frames: int, *, intensity: float = 1.0, regions: dict[str, float] | None = None
) -> dict[str, np.ndarray]:
    """Per-field (``frames``,) offsets for ``compose(emotion=...)``: ``expression × intensity × region weight``."""
    if intensity < 0:
        raise ValueError(f"intensity must be >= 0, got {intensity}")
    weights = {r: 1.0 for r in REGIONS} | check_weights(regions or {})
    region_of = {f: r for r, fields in REGIONS.items() for f in fields}
    return {f: np.full(frames, v * intensity * weights[region_of[f]], np.float64) for f, v in expression.items()}
