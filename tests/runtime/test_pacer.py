"""The pacer on a manual clock: newest-wins, repeats, drops, adaptive delay, late ticks."""

from __future__ import annotations

import numpy as np

from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import FakeClock
from pyavatar.runtime.frames import VideoFrame
from pyavatar.runtime.metrics import Metrics
from pyavatar.runtime.pacer import Pacer

FPS = 30.0
P = 1e9 / FPS
MS = 1_000_000


def _frame(i: int, capture_ns: int, ready_ns: int) -> VideoFrame:
    m = MotionFrame(i, 0, FPS, capture_ns, np.zeros(3, np.float32), np.zeros(5, np.float32))
    return VideoFrame(np.zeros((2, 2, 3), np.uint8), m, ready_ns=ready_ns)


def _run(pacer: Pacer, clock: FakeClock, arrivals: dict[int, list[VideoFrame]], ticks: int) -> list:
    """Drive the pacer: offer frames when their ready time passes, tick at the pacer's times."""
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
        pacer.metrics.frame_out(clock.now_ns(), frame.capture_ns if frame else -1, kind) if frame else None
        out.append((clock.now_ns(), frame.index if frame is not None else None, kind))
    return out


def test_regular_frames_pass_one_per_tick_with_constant_latency() -> None:
    clock = FakeClock(1_000 * MS)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, clock.now_ns(), margin_ms=10)
    start = clock.now_ns()
    frames = {i: [_frame(i, round(start + i * P), round(start + i * P + 40 * MS))] for i in range(60)}
    out = _run(pacer, clock, frames, 70)
    shown = [i for _, i, kind in out if kind == "new"]
    assert shown == list(range(60))
    s = m.snapshot()
    assert s["drops"] == 0
    assert abs(s["p50_ms"] - 50.0) < 0.01 and abs(s["max_ms"] - 50.0) < 0.01  # 40 ms lag + 10 ms margin
    times = [t for t, _, kind in out if kind == "new"]
    assert np.allclose(np.diff(times), P, atol=1)


def test_late_frame_is_repeated_over_then_dropped_and_delay_grows() -> None:
    clock = FakeClock(0)
    m = Metrics(clock)
    pacer = Pacer(FPS, m, 0, margin_ms=10)
    frames = {}
    for i in range(40):
        ready = round(i * P + 40 * MS) + (100 * MS if i == 20 else 0)  # frame 20 is 100 ms late
        frames[i] = [_frame(i, round(i * P), ready)]
    out = _run(pacer, clock, frames, 50)
    kinds = {i: k for _, i, k in out if k == "new"}
    assert 20 not in kinds and 19 in kinds and 25 in kinds
    s = m.snapshot()
    assert s["repeats"] >= 1 and s["drops"] >= 1
    assert pacer.delay_ns >= 140 * MS  # grew to cover the late frame's lag
    tail = [i for _, i, k in out[-10:] if k == "new"]
    assert tail == sorted(tail) and len(tail) == len(set(tail))


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
    assert [i for _, i, k in out if k == "new"] == [0, 2]
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
    pacer = Pacer(FPS, m, 0, margin_ms=10, shrink_after_s=1.0)
    frames, ready = {}, 0
    for i in range(120):  # a slow start (120 ms lag), then 20 ms; frames finish in order
        ready = max(ready, round(i * P) + (120 if i < 5 else 20) * MS)
        frames[i] = [_frame(i, round(i * P), ready)]
    _run(pacer, clock, frames, 125)
    assert pacer.delay_ns < 60 * MS
    assert m.snapshot()["drops"] == 0
