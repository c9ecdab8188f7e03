"""Stage 3: motion → frames.

The neural (photoreal) path is pyavatar's own implementation of LivePortrait's
inference modules; it loads the released checkpoints unchanged
(:func:`load_liveportrait`).
"""

from pyavatar.render.liveportrait.config import LivePortraitConfig
from pyavatar.render.liveportrait.keypoints import Motion, relative_motion
from pyavatar.render.liveportrait.renderer import LivePortraitRenderer, SourceState
from pyavatar.render.liveportrait.weights import (
    CheckpointError,
    LivePortraitModels,
    convert_weights,
    load_liveportrait,
)

__all__ = [
    "CheckpointError",
    "CropParams",
    "LivePortraitConfig",
    "LivePortraitModels",
    "LivePortraitRenderer",
    "Motion",
    "NeuralRenderer",
    "NoFaceError",
    "Portrait",
    "PreparedPortrait",
    "SourceState",
    "convert_weights",
    "load_image",
    "load_liveportrait",
    "prepare_portrait",
    "relative_motion",
]

_LAZY = {
    "NeuralRenderer": "pyavatar.render.liveportrait.neural",
    "PreparedPortrait": "pyavatar.render.liveportrait.neural",
    "CropParams": "pyavatar.render.portrait",
    "NoFaceError": "pyavatar.render.portrait",
    "Portrait": "pyavatar.render.portrait",
    "prepare_portrait": "pyavatar.render.portrait",
    "load_image": "pyavatar.render.portrait",
}


def __getattr__(name: str) -> object:
    """Portrait-related names import OpenCV and Pillow, so they load on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyavatar.render' has no attribute {name!r}")
