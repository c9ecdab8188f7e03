"""Video face tracking: MediaPipe's face mesh → FaceParams, with calibration, smoothing and loss handling."""

from pyavatar.tracking.filters import OneEuroFilter, OneEuroSettings
from pyavatar.tracking.hybrid import HybridMixer
from pyavatar.tracking.tracker import EXTRAS, FaceTracker, TrackedFrame, TrackerSettings

__all__ = [
    "EXTRAS",
    "FaceTracker",
    "HybridMixer",
    "OneEuroFilter",
    "OneEuroSettings",
    "TrackedFrame",
    "TrackerSettings",
]
