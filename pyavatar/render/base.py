"""The renderer contract shared by the classical and neural renderers.

A renderer prepares a portrait once (face finding, caches) and then turns
:class:`~pyavatar.face.params.FaceParams` into RGB frames of the portrait's
size. The runtime and the SDK only talk to renderers through this protocol.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pyavatar.face.params import FaceParams

ImageInput = str | Path | np.ndarray  # a path, or an (H, W), (H, W, 3) or (H, W, 4) uint8 array


@runtime_checkable
class FaceRenderer(Protocol):
    """Portrait in once, frames out per FaceParams."""

    name: str

    def prepare(
        self,
        image: ImageInput,
        *,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
    ) -> Any:
        """Analyse ``image`` once (``crop`` = (x, y, w, h) skips face detection) and return the prepared state."""

    def render_params(self, prepared: Any, params: FaceParams) -> np.ndarray:
        """Frames for every row of ``params``: (T, H, W, 3) uint8 at the portrait's size."""


def face_point_options(renderer: FaceRenderer, face_points: Any) -> dict[str, Any]:
    """Keyword arguments that pass ``face_points`` to ``renderer.prepare`` (none when None).

    Only some renderers (the classical one) take face points; for the others this raises a
    ValueError that names the option instead of Python's unexpected-keyword error.
    """
    if face_points is None:
        return {}
    if "face_points" not in inspect.signature(renderer.prepare).parameters:
        raise ValueError(
            f"--face-points: the {getattr(renderer, 'name', type(renderer).__name__)!r} renderer does not take "
            "face points (they pin the classical renderer's face template); drop them or use --renderer classical"
        )
    return {"face_points": face_points}
