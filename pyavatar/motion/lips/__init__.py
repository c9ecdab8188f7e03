"""DSP lip sync: vowel profiles and the uLipSync-style engine."""

from pyavatar.motion.lips.engine import DspLipEngine, LipSettings
from pyavatar.motion.lips.profile import VowelProfile, calibrate, load_profile

__all__ = ["DspLipEngine", "LipSettings", "VowelProfile", "calibrate", "load_profile"]
