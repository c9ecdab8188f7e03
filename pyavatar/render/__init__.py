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
    "LivePortraitConfig",
    "LivePortraitModels",
    "LivePortraitRenderer",
    "Motion",
    "SourceState",
    "convert_weights",
    "load_liveportrait",
    "relative_motion",
]
