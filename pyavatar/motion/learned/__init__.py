"""Learned streaming mouth model: 100 Hz log-mel features → the DSP lip engine's outputs."""

from pyavatar.motion.learned.engine import LearnedLipEngine, load_model

__all__ = ["LearnedLipEngine", "load_model"]
