"""Per-eye blink range learned from the user's blinks (:mod:`pyavatar.tracking.blink`), on synthetic readings."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.tracking.blink import BlinkRange, BlinkRangeSettings

FPS = 30.0


def _feed(br: BlinkRange, left: list[float], right: list[float] | None = None, t0: float = 0.0) -> np.ndarray:
    right = right if right is not None else [0.0] * len(left)
    return np.array([br.update(a, b, t0 + i / FPS) for i, (a, b) in enumerate(zip(left, right))])


def _blink(peak: float) -> list[float]:
    return [0.0] * 10 + [peak / 2, peak, peak, peak / 2] + [0.0] * 10


def test_an_eye_that_reads_closures_shallow_learns_its_own_range() -> None:
    br = BlinkRange()
    first = _feed(br, _blink(0.65))
    assert first[:, 0].max() == pytest.approx(0.65)  # nothing learned before the first blink
    assert br.full == pytest.approx((0.65, 1.0))  # the right eye did not blink: unchanged
    later = _feed(br, _blink(0.65), t0=1.0)
    assert later[:, 0].max() == pytest.approx(1.0) and later[10, 0] == pytest.approx(0.5)  # half stays half
    assert later[:, 1].max() == 0.0


def test_long_closures_and_shallow_dips_teach_nothing() -> None:
    br = BlinkRange()
    _feed(br, [0.0] * 5 + [0.6] * 60 + [0.0] * 5)  # a 2-s squint is not a blink
    _feed(br, _blink(0.3), t0=3.0)  # under the threshold: jitter or a sympathetic dip
    assert br.full == (1.0, 1.0)


def test_the_gain_is_bounded_and_the_deepest_recent_blink_wins() -> None:
    br = BlinkRange(BlinkRangeSettings(remember=2))
    _feed(br, _blink(0.4))
    assert br.full[0] == pytest.approx(0.6)  # the floor: at most 1 / 0.6 gain
    _feed(br, _blink(0.9), t0=1.0)
    _feed(br, _blink(0.7), t0=2.0)
    assert br.full[0] == pytest.approx(0.9)
    _feed(br, _blink(0.7), t0=3.0)  # the 0.9 blink is no longer among the last two
    assert br.full[0] == pytest.approx(0.7)
    br.reset()
    assert br.full == (1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0.0}, {"threshold": 0.7, "floor": 0.6}, {"floor": 1.5}, {"max_s": 0}, {"remember": 0}]
)
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="blink range"):
        BlinkRangeSettings(**kwargs)
