"""Round-trip checks: known FaceParams sequences (rendered by any renderer) tracked back, and their scores."""

from __future__ import annotations

import numpy as np

from pyavatar.face.params import FaceParams

#: Fields the round trip scores by correlation.
SCORED = ("head_yaw", "head_pitch", "head_roll", "jaw_open", "blink_left", "blink_right", "gaze_yaw")
ANGLES = ("head_yaw", "head_pitch", "head_roll")
BLINK_SHAPE = (0.5, 1.0, 1.0, 0.5)


def _smooth_noise(rng: np.random.Generator, n: int, amplitude: float, width: int) -> np.ndarray:
    x = rng.standard_normal(n + 4 * width)
    window = np.hanning(2 * width + 1)
    x = np.convolve(x, window / window.sum(), mode="same")[2 * width : -2 * width]
    return amplitude * x / max(float(np.abs(x).max()), 1e-9)


def known_sequence(n: int, fps: float = 30.0, *, lead: int = 8, seed: int = 0) -> FaceParams:
    """``lead`` neutral frames, then ``n`` frames of random smooth head motion, gaze, jaw and blinks.

    Head: yaw ±18°, pitch ±12°, roll ±10°; gaze yaw ±25°; jaw 0..1; a blink
    (both eyes, or one) every 0.4–0.7 s, each :data:`BLINK_SHAPE` long.
    """
    rng = np.random.default_rng(seed)
    w = max(2, int(round(0.3 * fps)))
    blink = {"left": np.zeros(n), "right": np.zeros(n)}
    t = int(0.3 * fps)
    while t + len(BLINK_SHAPE) < n:
        sides = (("left", "right"), ("left",), ("right",))[rng.choice(3, p=(0.5, 0.25, 0.25))]
        for side in sides:
            blink[side][t : t + len(BLINK_SHAPE)] = BLINK_SHAPE
        t += int(rng.uniform(0.4, 0.7) * fps)
    fields = {
        "head_yaw": _smooth_noise(rng, n, 18.0, w),
        "head_pitch": _smooth_noise(rng, n, 12.0, w),
        "head_roll": _smooth_noise(rng, n, 10.0, w),
        "gaze_yaw": _smooth_noise(rng, n, 25.0, w),
        "jaw_open": np.clip(_smooth_noise(rng, n, 0.8, max(2, w // 2)) + 0.3, 0.0, 1.0),
        "blink_left": blink["left"],
        "blink_right": blink["right"],
    }
    return FaceParams.from_fields(**{k: np.concatenate([np.zeros(lead), v]) for k, v in fields.items()})


def blink_events(values: np.ndarray, threshold: float = 0.9) -> list[tuple[int, int]]:
    """(start, end) frame ranges where ``values`` ≥ ``threshold``."""
    on = np.concatenate([[0], (np.asarray(values) >= threshold).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(on))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def score(known: FaceParams, tracked: FaceParams, *, skip: int = 0) -> dict[str, object]:
    """Correlation, slope and mean absolute error per scored field, head-angle error and blink recall.

    ``skip``: leading frames left out (the calibration lead). Gaze is scored on the
    frames where both eyes are open (closed lids hide the iris). Blink recall: a known
    blink (value ≥ 0.9) counts as found when the tracked value reaches 0.5 within it
    or one frame either side; false blinks: tracked runs ≥ 0.5 with no known blink ≥ 0.4 in them.
    """
    if len(known) != len(tracked):
        raise ValueError(f"score: {len(known)} known frames, {len(tracked)} tracked")
    out: dict[str, object] = {}
    open_eyes = (known.blink_left[skip:] == 0) & (known.blink_right[skip:] == 0)
    for name in SCORED:
        a, b = known[name][skip:].astype(np.float64), tracked[name][skip:].astype(np.float64)
        if name.startswith("gaze_"):
            a, b = a[open_eyes], b[open_eyes]
        r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
        slope = float(np.polyfit(a, b, 1)[0]) if a.std() > 0 else float("nan")
        out[name] = {"r": round(r, 4), "slope": round(slope, 3), "mae": round(float(np.abs(a - b).mean()), 4)}
    out["head_angle_mae_deg"] = round(float(np.mean([out[k]["mae"] for k in ANGLES])), 3)  # type: ignore[index]
    for side in ("left", "right"):
        a, b = known[f"blink_{side}"][skip:], tracked[f"blink_{side}"][skip:]
        events = blink_events(a)
        found = sum(bool((b[max(0, s - 1) : e + 1] >= 0.5).any()) for s, e in events)
        false = sum(not (a[s:e] >= 0.4).any() for s, e in blink_events(b, 0.5))
        out[f"blink_{side}_events"] = {
            "known": len(events),
            "found": found,
            "false": false,
            "recall": round(found / max(len(events), 1), 4),
        }
    return out
