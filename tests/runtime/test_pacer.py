"""The pacer on a manual clock: newest-wins, repeats, drops, the adaptive delay policy, late ticks."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import FakeClock
from pyavatar.runtime.frames import VideoFrame
from pyavatar.runtime.metrics import Metrics
from pyavatar.runtime.pacer import MARGIN_MS, AdaptiveDelay, Pacer

FPS = 30.0
P = 1e9 / FPS
MS = 1_000_000


def _frame(i: int, capture_ns: int, ready_ns: int) -> VideoFrame:
    m = MotionFrame(i, 0, FPS, capture_ns, np.zeros(3, np.float32), np.zeros(5, np.float32))
    return VideoFrame(np.zeros((2, 2, 3), np.uint8), m, ready_ns=ready_ns)


def _run(pacer: Pacer, clock: FakeClock, arrivals: dict[int, list[VideoFrame]], ticks: int) -> list:
    """Drive the pacer: offer frames when their ready time passes, tick at the pacer's times.

    Returns per tick (time, index shown, kind, delay in ms after the tick).
    """
    pending = sorted((f.ready_ns, f.index, f) for fs in arrivals.values() for f in fs)
    out = []
    for _ in range(ticks):
        t = pacer.next_tick_ns()
        while pending and pending[0][0] <= t:
            _, _, f = pending.pop(0)
            clock.sleep_until(f.ready_ns)
            pacer.offer(f)
            t = pacer.next_tick_ns()
        clock.sleep_until(t)
        frame, kind = pacer.tick()
        if frame is not None:
            pacer.metrics.frame_out(clock.now_ns(), frame.capture_ns, kind)
        out.append((clock.now_ns(), frame.index if frame is not None else None, kind, pacer.delay_ns / MS))
    return out


def _lags(lag_ms: list[float], in_order: bool = True) -> dict[int, list[VideoFrame]]:
    """Frame ``i`` captured on tick ``i``, ready ``lag_ms[i]`` later (no earlier than frame i-1 with ``in_order``)."""
    frames, ready = {}, 0
    for i, lag in enumerate(lag_ms):
        r = round(i * P + lag * MS)
        ready = max(ready, r) if in_order else r
        frames[i] = [_frame(i, round(i * P), ready)]
    return frames


def _misses(out: list, after: int) -> tuple[int, int]:
    """(frames never shown, repeated ticks) from the tick showing frame ``after`` to the last new frame."""
    start = next(j for j, (_, i, k, _) in enumerate(out) if k == "new" and i >= after)
    end = max(j for j, (_, _, k, _) in enumerate(out) if k == "new")
    shown = [i for _, i, k, _ in out[start : end + 1] if k == "new"]
    return len(set(range(shown[0], shown[-1] + 1)) - set(shown)), sum(k != "new" for _, _, k, _ in out[start:end])


def test_regular_frames_pass_one_per_tick_with_constant_latency() -> None:
    clock = FakeClock(1_000 * MS)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, clock.now_ns())
    start = clock.now_ns()
    frames = {i: [_frame(i, round(start + i * P), round(start + i * P + 40 * MS))] for i in range(60)}
    out = _run(pacer, clock, frames, 70)
    shown = [i for _, i, kind, _ in out if kind == "new"]
    assert shown == list(range(60))
    s = m.snapshot()
    assert s["drops"] == 0
    assert abs(s["p50_ms"] - (40 + MARGIN_MS)) < 0.01 and abs(s["max_ms"] - (40 + MARGIN_MS)) < 0.01  # lag + margin
    times = [t for t, _, kind, _ in out if kind == "new"]
    assert np.allclose(np.diff(times), P, atol=1)


def test_fixed_delay_newest_wins_when_frames_bunch_up() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0, delay_ms=50)
    # two frames captured within one tick interval (as after a clock jump): only the newer is shown
    frames = {
        0: [_frame(0, 0, 10 * MS)],
        1: [_frame(1, round(P), round(P) + 10 * MS)],
        2: [_frame(2, round(P) + 5 * MS, round(P) + 15 * MS)],
    }
    out = _run(pacer, clock, frames, 4)
    assert [i for _, i, k, _ in out if k == "new"] == [0, 2]
    assert m.snapshot()["drops"] == 1


def test_hold_before_first_frame_and_skip_late_ticks() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    assert pacer.tick() == (None, "hold")
    pacer.set_rest(_frame(-1, -1, 0))
    frame, kind = pacer.tick()
    assert kind == "hold" and frame.index == -1
    assert pacer.skip_to(round(10.5 * P)) == 8  # ticks 2..9 are in the past
    assert pacer.next_tick_ns() == round(10 * P)


def test_delay_shrinks_after_sustained_lower_lag() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0, policy=AdaptiveDelay(FPS, shrink_after_s=1.0))
    frames, ready = {}, 0
    for i in range(300):  # a slow start (120 ms lag), then 20 ms; frames finish in order
        ready = max(ready, round(i * P) + (120 if i < 5 else 20) * MS)
        frames[i] = [_frame(i, round(i * P), ready)]
    _run(pacer, clock, frames, 305)  # the slow start leaves the 5 s window, then the delay falls
    assert pacer.delay_ns < 60 * MS
    assert m.snapshot()["drops"] == 0


def test_one_slow_frame_is_absorbed_without_raising_the_delay() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0, policy=AdaptiveDelay(FPS, quantile=0.95))  # three late frames: 2 % of the window
    lags = [30.0] * 300
    lags[150] = 130.0  # one frame takes 100 ms longer; the two behind it finish late too (in order)
    out = _run(pacer, clock, _lags(lags), 305)
    assert max(d for *_, d in out) == pytest.approx(30 + MARGIN_MS, abs=0.01)  # 30 ms + the margin, never more
    assert _misses(out, after=30) == (3, 3)  # only the three late frames are lost (the stall's ticks repeat)
    shown = [i for _, i, k, _ in out if k == "new"]
    assert shown == sorted(shown) and set(range(300)) - set(shown) == {150, 151, 152}


def test_a_stall_raises_the_delay_which_comes_back_down() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    policy = AdaptiveDelay(FPS)
    pacer = Pacer(FPS, m, 0, policy=policy)
    lags = [30.0] * 450
    lags[150] = 230.0  # a 200 ms stall: six frames finish late (in order)
    out = _run(pacer, clock, _lags(lags), 455)
    by_index = {i: d for _, i, k, d in out if k == "new"}
    assert max(by_index.values()) > 100.0  # a run of late frames is a real rise: followed at once
    back = next(i for i in range(151, 450) if by_index.get(i, 0) == pytest.approx(30 + MARGIN_MS, abs=0.01))
    # back to the steady level (30 ms + margin) once the stall has left the window and the wait has passed
    assert back < 151 + (policy.window_ns + policy.shrink_after_ns) / 1e9 * FPS
    assert all(d == pytest.approx(30 + MARGIN_MS, abs=0.01) for i, d in by_index.items() if i >= back)  # and it stays
    assert _misses(out, after=back) == (0, 0)  # and falling never loses a frame


def test_steady_jitter_neither_drops_nor_oscillates() -> None:
    rng = np.random.default_rng(3)
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    out = _run(pacer, clock, _lags(list(rng.uniform(20.0, 45.0, 900))), 905)  # 30 s of jittery, steady lag
    assert _misses(out, after=30) == (0, 0)  # after the first second (the delay starts from one frame's lag)
    steady = [d for _, i, k, d in out if k == "new" and i >= 60]
    assert 45.0 <= min(steady) and max(steady) <= 45.0 + MARGIN_MS + 1.0  # the lags' top (45 ms) + the margin
    assert np.count_nonzero(np.diff(steady)) <= 20  # a few settling steps, not a delay that hunts up and down


def test_recurring_stalls_keep_the_delay_up_instead_of_moving_it_down_and_up() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    lags = [30.0] * 600
    for i in range(60, 600, 60):  # a 200-ms stall every 2 s (a periodic job, a stream that restarts)
        lags[i] = 230.0
    out = _run(pacer, clock, _lags(lags), 605)
    delays = [d for _, i, k, d in out if k == "new" and i >= 120]
    assert min(delays) > 100.0  # it covers the stalls after the second one
    assert np.count_nonzero(np.diff(delays)) <= 3  # and does not chase them down and up


def test_camera_frames_off_the_output_grid_are_covered() -> None:
    """A camera's frames are captured at their own phase, drifting against the output ticks: a frame is shown
    on the tick within half a period of its due time, so the delay must cover its lag to that tick."""
    rng = np.random.default_rng(5)
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    cam_period = P * 1.002  # the camera's clock runs a little slow: its phase sweeps the whole period
    frames, ready = {}, 0
    for i in range(900):
        capture = round(i * cam_period)
        ready = max(ready, capture + round(rng.uniform(15.0, 30.0) * MS))
        frames[i] = [_frame(i, capture, ready)]
    out = _run(pacer, clock, frames, 905)
    missed, _ = _misses(out, after=30)
    assert missed <= 2  # the camera skipping one output tick as the phases cross loses at most a frame or two
    assert m.snapshot()["drops"] <= 2
    steady = [d for _, i, k, d in out if k == "new" and i >= 60]
    assert max(steady) <= 30.0 + P / MS + MARGIN_MS + 0.01  # no more than the lag, a period and the margin


def test_a_lasting_rise_is_followed_at_once() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    out = _run(pacer, clock, _lags([30.0] * 150 + [90.0] * 150), 305)  # the machine got slower for good
    by_index = {i: d for _, i, k, d in out if k == "new"}
    assert by_index[160] == pytest.approx(90 + MARGIN_MS, abs=0.01)
    assert m.snapshot()["drops"] <= 5


def test_audio_like_bursts_are_covered_without_drops() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0)
    # a 100 ms audio block yields three frames at once, 20 ms after the block ends: lags 103, 70 and 37 ms
    frames = {}
    for i in range(600):
        block_end = (i // 3 * 3 + 3) * P
        frames[i] = [_frame(i, round(i * P + P / 2), round(block_end + 20 * MS))]
    out = _run(pacer, clock, frames, 605)
    assert _misses(out, after=0) == (0, 0) and m.snapshot()["drops"] == 0
    assert pacer.delay_ns / MS == pytest.approx(2.5 * P / MS + 20 + MARGIN_MS, abs=0.01)  # the longest lag + margin


@pytest.mark.parametrize("settle_s", [1.5, 0.0])
def test_a_slow_first_frame_does_not_hold_the_delay_up(settle_s: float) -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    # at quantile 0.95 the first lag alone sets the level (at the default 0.99 it also keeps it for the window)
    pacer = Pacer(FPS, m, 0, policy=AdaptiveDelay(FPS, settle_s=settle_s, quantile=0.95))
    lags = [70.0] + [20.0] * 299  # a first call's one-time cost (a tracker's, a model's), then a steady lag
    out = _run(pacer, clock, _lags(lags), 305)
    by_index = {i: d for _, i, k, d in out if k == "new"}
    assert by_index[0] == pytest.approx(70 + MARGIN_MS, abs=0.01)  # the first lag alone sets the delay
    assert _misses(out, after=0) == (0, 0)  # falling never loses a frame
    settled = by_index[round(1.5 * FPS)] == pytest.approx(20 + MARGIN_MS, abs=0.01)  # the steady lag + margin
    assert settled == (settle_s > 0)  # without the settling time, the first lag is held for >= 2.5 s
    assert by_index[299] == pytest.approx(20 + MARGIN_MS, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"quantile": 1.0}, "quantile"),
        ({"window_s": 0}, "window_s"),
        ({"half_life_s": -1}, "half_life_s"),
        ({"settle_s": -1}, "settle_s"),
    ],
)
def test_adaptive_delay_refuses_bad_settings(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        AdaptiveDelay(FPS, **kwargs)
