"""Combine lip-sync, idle motion and emotion offsets into :class:`FaceParams`."""

from __future__ import annotations

import numpy as np

from pyavatar.face.params import FaceParams
from pyavatar.packets import LipChunk


def compose(lips: LipChunk, idle: FaceParams | None = None, emotion: dict[str, np.ndarray] | None = None) -> FaceParams:
    """FaceParams for the frames of ``lips``.

    Idle motion provides head, gaze and blinks; emotion offsets add to the
    mouth and upper face (the lip shapes win over the emotion's lip shape
    where larger); emotion squint and blinks combine by maximum. Fields out of
    range are clamped by :class:`FaceParams`.
    """
    n = len(lips)
    if idle is not None and len(idle) != n:
        raise ValueError(f"idle has {len(idle)} frames, lips {n}")
    base = idle if idle is not None else FaceParams.neutral(n)
    emo = {k: np.asarray(v, dtype=np.float64) for k, v in (emotion or {}).items()}
    for k, v in emo.items():
        if v.shape != (n,):
            raise ValueError(f"emotion[{k!r}]: expected shape ({n},), got {v.shape}")
    zero = np.zeros(n)
    fields = {
        "jaw_open": lips.jaw_open + emo.get("jaw_open", zero),
        "mouth_wide": np.maximum(lips.mouth_wide, emo.get("mouth_wide", zero)),
        "mouth_round": np.maximum(lips.mouth_round, emo.get("mouth_round", zero)),
        "blink_left": np.maximum(base.blink_left, emo.get("blink_left", zero)),
        "blink_right": np.maximum(base.blink_right, emo.get("blink_right", zero)),
    }
    for k in (
        "smile_left",
        "smile_right",
        "mouth_frown",
        "brow_up_left",
        "brow_up_right",
        "brow_down",
        "eye_wide",
        "happy",
        "sad",
        "angry",
        "surprised",
        "relaxed",
    ):
        fields[k] = base[k] + emo.get(k, zero)
    return base.replace(**fields)
