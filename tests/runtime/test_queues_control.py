"""Bounded queues (policies, counters, close) and control events (validation, OSC mapping)."""

from __future__ import annotations

import threading
import time

import pytest

from pyavatar.runtime import control as ctl
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout


def test_block_policy_waits_and_times_out() -> None:
    q: BoundedQueue[int] = BoundedQueue(2, Policy.BLOCK)
    q.put(1)
    q.put(2)
    with pytest.raises(QueueTimeout):
        q.put(3, timeout=0.05)
    threading.Timer(0.05, q.get).start()
    q.put(3, timeout=2.0)  # room made by the consumer
    assert [q.get(), q.get()] == [2, 3]
    assert q.dropped == 0


def test_drop_oldest_counts_and_keeps_newest() -> None:
    q: BoundedQueue[int] = BoundedQueue(3, Policy.DROP_OLDEST)
    dropped = [q.put(i) for i in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert q.dropped == 2
    assert [q.get(), q.get(), q.get()] == [2, 3, 4]


def test_latest_returns_newest_and_counts_skipped() -> None:
    q: BoundedQueue[int] = BoundedQueue(8, Policy.LATEST)
    for i in range(4):
        q.put(i)
    assert q.get() == 3
    assert q.dropped == 3
    assert len(q) == 0


def test_close_wakes_waiters_and_clear_is_not_a_drop() -> None:
    q: BoundedQueue[int] = BoundedQueue(2, Policy.BLOCK)
    got: list[BaseException] = []

    def consumer() -> None:
        try:
            q.get()
        except QueueClosed as e:
            got.append(e)

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(2.0)
    assert not t.is_alive() and got
    with pytest.raises(QueueClosed):
        q.put(1)
    q2: BoundedQueue[int] = BoundedQueue(4, Policy.DROP_OLDEST)
    q2.put(1)
    q2.put(2)
    assert q2.clear() == 2 and q2.flushed == 2 and q2.dropped == 0


def test_control_events_validate_ranges() -> None:
    with pytest.raises(ValueError, match="intensity"):
        ctl.SetEmotion("happy", 1.5)
    with pytest.raises(ValueError, match="lip_scale"):
        ctl.SetLipScale(-1)
    with pytest.raises(ValueError, match="finite"):
        ctl.SetLipScale(float("nan"))
    with pytest.raises(ValueError, match="both"):
        ctl.SetGaze(10.0, None)
    with pytest.raises(ValueError, match="gaze yaw"):
        ctl.SetGaze(60.0, 0.0)
    assert ctl.SetGaze(None, None).yaw is None


@pytest.mark.parametrize(
    ("address", "args", "event"),
    [
        ("/pyavatar/set/emotion", ["happy"], ctl.SetEmotion("happy")),
        ("/pyavatar/set/emotion", ["sad", 0.5], ctl.SetEmotion("sad", 0.5)),
        ("/pyavatar/set/intensity", [1], ctl.SetIntensity(1.0)),
        ("/pyavatar/set/lip_scale", [1.5], ctl.SetLipScale(1.5)),
        ("/pyavatar/set/gaze", [10.0, -5], ctl.SetGaze(10.0, -5.0)),
        ("/pyavatar/set/gaze", [], ctl.SetGaze(None, None)),
        ("/pyavatar/set/mute", [True], ctl.SetMute(True)),
        ("/pyavatar/set/mute", [0], ctl.SetMute(False)),
        ("/pyavatar/set/region_weight", ["mouth", 1], ctl.SetRegionWeight("mouth", 1.0)),
        ("/pyavatar/set/pause", [1.0], ctl.Pause(True)),
        ("/pyavatar/set/renderer", ["probe"], ctl.SwapRenderer("probe")),
        ("/pyavatar/set/flush", [], ctl.Flush()),
        ("/pyavatar/set/stop", [], ctl.Stop()),
    ],
)
def test_from_osc(address: str, args: list, event: ctl.ControlEvent) -> None:
    assert ctl.from_osc(address, args) == event


@pytest.mark.parametrize(
    ("address", "args", "match"),
    [
        ("/pyavatar/set/nope", [], "unknown control"),
        ("/other/set/emotion", ["happy"], "not a control address"),
        ("/pyavatar/set/emotion", [], "expected a name"),
        ("/pyavatar/set/emotion", [3.0], "expected a name"),
        ("/pyavatar/set/intensity", ["x"], "number"),
        ("/pyavatar/set/intensity", [2.0], "within"),
        ("/pyavatar/set/gaze", [1.0], "2 number"),
        ("/pyavatar/set/mute", [2], "0/1"),
        ("/pyavatar/set/stop", [1], "no arguments"),
        ("/pyavatar/set/renderer", [1], "one name"),
        ("/pyavatar/set/region_weight", ["mouth"], "a region name and a weight"),
        ("/pyavatar/set/region_weight", [0.5, "mouth"], "a region name and a weight"),
        ("/pyavatar/set/region_weight", ["mouth", 1.5], "region weight mouth must be within 0.0..1.0"),
        ("/pyavatar/set/region_weight", ["mouth", float("inf")], "must be finite"),
        ("/pyavatar/set/region_weight", ["mouth", "x"], "number"),
        ("/pyavatar/set/region_weight", ["os:system", 1.0], "not a face region name"),
    ],
)
def test_from_osc_rejects(address: str, args: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ctl.from_osc(address, args)
