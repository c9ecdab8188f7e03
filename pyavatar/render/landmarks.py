"""The landmark backend renderers use unless given one: MediaPipe behind the per-user landmark cache."""

from __future__ import annotations

from pyavatar.face.landmark_cache import CachedLandmarks
from pyavatar.userdirs import cache_dir

# Must match MediaPipeLandmarks' defaults: part of the cache key, so a change of detector re-detects.
MEDIAPIPE_SETTINGS = "mediapipe-0.10.21-fullrange-mesh478|0.5|8|2.0"


def default_landmarks() -> CachedLandmarks:
    """MediaPipe 478-point landmarks, cached per image content in ``cache_dir()/landmarks`` (made on a miss)."""
    from pyavatar.face.landmarks import MediaPipeLandmarks

    folder = cache_dir()
    return CachedLandmarks(MediaPipeLandmarks, MEDIAPIPE_SETTINGS, None if folder is None else folder / "landmarks")
