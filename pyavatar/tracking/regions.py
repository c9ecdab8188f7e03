"""Face regions: the FaceParams fields each region owns (for hybrid mixing and reference expressions)."""

from __future__ import annotations

REGIONS: dict[str, tuple[str, ...]] = {
    "head": ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_z"),
    "eyes": ("blink_left", "blink_right", "eye_wide", "gaze_yaw", "gaze_pitch"),
    "brows": ("brow_up_left", "brow_up_right", "brow_down"),
    "mouth": ("jaw_open", "mouth_wide", "mouth_round"),
    "expression": ("smile_left", "smile_right", "mouth_frown"),
}


def check_weights(weights: dict[str, float]) -> dict[str, float]:
    """Validated ``{region: weight in 0..1}`` (errors name the region and the value)."""
    out = {}
    for region, value in weights.items():
        if region not in REGIONS:
            raise ValueError(f"unknown face region {region!r}; regions: {', '.join(REGIONS)}")
        v = float(value)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"region weight {region}={value!r} must be within 0..1")
        out[region] = v
    return out
