"""The ``probe`` renderer: the portrait with its face parameters drawn on it (no face finding, no warping).

Frame layout: the top-left :data:`CELL` x :data:`CELL` pixels hold
``round(jaw_open * 255)`` in every channel (read back with :func:`read_jaw`), and
a strip of bars along the bottom shows every field of
:data:`~pyavatar.face.params.NAMES` scaled to its range. It renders in the time
of a frame copy, so pipelines can be tested and timed without a real renderer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyavatar.face.params import FIELDS, FaceParams
from pyavatar.render.base import ImageInput
from pyavatar.render.images import load_rgba

CELL = 16
_LO = np.array([lo for lo, _ in FIELDS.values()], np.float32)
_HI = np.array([hi for _, hi in FIELDS.values()], np.float32)


class ProbeRenderer:
    """A FaceRenderer that draws parameters instead of animating the face.

    Args:
        size: output side length (the portrait is resized to size x size); None keeps its size.
    """

    name = "probe"

    def __init__(self, size: int | None = None) -> None:
        if size is not None and size < 2 * CELL:
            raise ValueError(f"probe size must be at least {2 * CELL}, got {size}")
        self.size = size

    def prepare(
        self, image: ImageInput, *, crop: tuple[float, float, float, float] | None = None, face_index: int = 0
    ) -> np.ndarray:
        """The portrait as (H, W, 3) uint8 (``crop`` = (x, y, w, h) cuts it first; ``face_index`` is unused)."""
        rgb, _ = load_rgba(image)
        if crop is not None:
            x, y, w, h = (round(v) for v in crop)
            if w <= 0 or h <= 0:
                raise ValueError(f"crop width and height must be positive, got {crop}")
            rgb = rgb[max(0, y) : y + h, max(0, x) : x + w]
        if self.size is not None and rgb.shape[:2] != (self.size, self.size):
            from PIL import Image

            rgb = np.asarray(Image.fromarray(rgb).resize((self.size, self.size), Image.BILINEAR))
        if min(rgb.shape[:2]) < 2 * CELL:
            raise ValueError(f"probe: portrait too small ({rgb.shape[1]}x{rgb.shape[0]}), need {2 * CELL} px")
        return np.ascontiguousarray(rgb)

    def render_params(self, prepared: Any, params: FaceParams) -> np.ndarray:
        """(T, H, W, 3) uint8: the portrait, the jaw cell and the parameter bars."""
        base = np.asarray(prepared)
        h, w = base.shape[:2]
        out = np.repeat(base[None], len(params), axis=0)
        norm = (params.values - _LO) / (_HI - _LO)
        strip = max(4, h // 16)
        cols = np.linspace(0, w, norm.shape[1] + 1).astype(int)
        out[:, h - strip :] //= 4
        green = out[:, h - strip :, :, 1]  # a view: (T, strip, W)
        height = np.arange(strip)[::-1]  # each row's height above the bottom
        for j in range(norm.shape[1]):
            fill = height[None, :] < (norm[:, j] * strip)[:, None]  # (T, strip)
            green[:, :, cols[j] : cols[j + 1] - 1][fill] = 255
        out[:, :CELL, :CELL, :] = np.round(params.jaw_open * 255).astype(np.uint8)[:, None, None, None]
        return out


def read_jaw(image: np.ndarray) -> float:
    """jaw_open as drawn by :class:`ProbeRenderer` into ``image`` (H, W, 3|4)."""
    return float(np.asarray(image)[2 : CELL - 2, 2 : CELL - 2, :3].mean()) / 255.0
