"""The renderer contract shared by the classical and neural renderers.

A renderer prepares a portrait once (face finding, caches) and then turns
:class:`~pyavatar.face.params.FaceParams` into RGB frames of the portrait's
size. The runtime and the SDK only talk to renderers through this protocol.
"""

from __future__ import annotations

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
