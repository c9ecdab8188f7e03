"""Forced Viterbi alignment of a known phone sequence to frame scores.

Each phone is a chain of ``min_frames`` states (the last one loops), so a phone
lasts at least ``min_frames`` frames. An optional pause may sit before the first
phone, between any two phones (entering it costs ``pause_penalty``) and after
the last one; ``pause_cost`` adds a per-frame cost to pausing (the aligner makes
pauses over speech-level frames expensive). A stop may also explain silent
frames (its closure) at no cost, so a closure is not mistaken for a pause.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

_NEG = -1e18


def forced_path(
    scores: np.ndarray,
    sequence: Sequence[int],
    *,
    silence: int = 0,
    stops: Collection[int] = (),
    min_frames: int = 3,
    pause_penalty: float = 4.0,
    pause_cost: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Phone index (``-1``: pause) of each frame, and the mean frame score along the best path.

    ``scores`` (T, C) are per-frame class scores (log domain); ``sequence`` lists
    each phone's class; ``silence`` is the pause class. Raises ``ValueError``
    when the frames cannot hold every phone for ``min_frames``.
    """
    t_len, n = len(scores), len(sequence)
    if n == 0:
        return np.full(t_len, -1, dtype=np.int64), float(scores[:, silence].mean()) if t_len else 0.0
    if t_len < n * min_frames:
        raise ValueError(f"{t_len} frames cannot hold {n} phones of at least {min_frames} frames each")
    cls, phone, loops, first = [], [], [], []
    for i in range(n + 1):
        cls.append(silence)
        phone.append(-1)
        loops.append(True)
        first.append(False)
        if i == n:
            break
        for k in range(min_frames):
            cls.append(sequence[i])
            phone.append(i)
            loops.append(k == min_frames - 1)
            first.append(k == 0)
    c = np.asarray(cls)
    loop = np.asarray(loops)
    is_first = np.asarray(first)
    n_states = len(c)
    enter = np.where(np.asarray(phone) < 0, -pause_penalty, 0.0)
    enter[0] = enter[-1] = 0.0
    emit = scores[:, c].astype(np.float64)
    if pause_cost is not None:
        emit[:, c == silence] -= np.asarray(pause_cost, dtype=np.float64)[:, None]
    closure = np.isin(c, list(stops))
    emit[:, closure] = np.maximum(emit[:, closure], scores[:, [silence]])
    acc = np.full(n_states, _NEG)
    acc[0], acc[1] = emit[0, 0], emit[0, 1]
    back = np.zeros((t_len, n_states), dtype=np.int8)
    cols = np.arange(n_states)
    for t in range(1, t_len):
        cand = np.stack(
            [
                np.where(loop, acc, _NEG),
                np.concatenate([[_NEG], acc[:-1]]) + enter,
                np.where(is_first, np.concatenate([[_NEG, _NEG], acc[:-2]]), _NEG),
            ]
        )
        step = cand.argmax(axis=0)
        acc = cand[step, cols] + emit[t]
        back[t] = step
    s = n_states - 1 if acc[-1] >= acc[-2] else n_states - 2
    total = float(acc[s])
    path = np.zeros(t_len, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return np.asarray(phone)[path], total / t_len
