"""Audio → motion: lip engines, procedural motion and learned motion generators."""

from __future__ import annotations

import importlib

# Learned generators need torch; they are imported on first use so the DSP lip engine stays light.
_LAZY = {
    "load_joyvasa": "pyavatar.motion.joyvasa",
    "JoyVASA": "pyavatar.motion.joyvasa",
    "DiffusionMotionModel": "pyavatar.motion.diffusion",
    "MotionModelConfig": "pyavatar.motion.diffusion",
    "MotionControls": "pyavatar.motion.diffusion",
    "MotionChunk": "pyavatar.motion.diffusion",
    "StreamConfig": "pyavatar.motion.diffusion",
    "StreamingMotionGenerator": "pyavatar.motion.diffusion",
    "load_motion_model": "pyavatar.motion.diffusion",
    "random_model": "pyavatar.motion.diffusion",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyavatar.motion' has no attribute {name!r}")
