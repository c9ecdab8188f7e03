"""The pipeline with fake stages: offline order and counts, live pacing, controls, failures, clean shutdown."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from pyavatar.runtime import control as ctl
from pyavatar.runtime.pipeline import Pipeline, PipelineError
from pyavatar.sdk.sources import paced
from tests.runtime.helpers import (
    Counted,
    FakeMotion,
    FakeStage,
    LockstepClock,
    Recorder,
    chunks,
    pyavatar_threads,
    tone,
)

FPS = 30.0


def _speech(seconds_on: float = 0.5, seconds_off: float = 0.5, reps: int = 2) -> np.ndarray:
    part = np.concatenate([tone(seconds_on), np.zeros(round(seconds_off * 16000), np.float32)])
    return np.tile(part, reps)


def test_offline_renders_every_frame_in_order() -> None:
    audio = _speech()
    video, motion = Recorder(), Recorder()
    p = Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS, video_sinks=[video], motion_sinks=[motion])
    n = p.run(chunks(audio, ms=23))
    assert n == math.ceil(len(audio) / 16000 * FPS) == len(video.frames) == len(motion.frames)
    assert [f.index for f in video.frames] == list(range(n))
    assert video.started is not None and (video.started.width, video.started.fps) == (8, FPS)
    assert video.closed == 1 and motion.closed == 1
    jaw = np.array([f.image[0, 0, 0] for f in video.frames])
    assert jaw[:10].min() > 100 and jaw[20:25].max() == 0  # tone, then silence
    assert all(f.capture_ns == -1 for f in video.frames)
    assert p.stats()["frames_out"] == n


def test_offline_control_applies_from_the_next_chunk() -> None:
    rec = Recorder()
    p = Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS, video_sinks=[rec])
    p.open()
    parts = list(chunks(tone(1.0), ms=100))
    before = [f for c in parts[:5] for f in p.process(c)]
    p.send(ctl.SetLipScale(2.0))
    after = [f for c in parts[5:] for f in p.process(c)] + p.finish()
    p.close()
    assert {int(f.image[0, 0, 0]) for f in before} == {128}
    assert {int(f.image[0, 0, 0]) for f in after} == {255}
    with pytest.raises(ValueError, match="bogus"):
        p.send(ctl.SetEmotion("bogus"))


def test_offline_sink_failure_is_raised_and_outputs_closed() -> None:
    bad, other = Recorder(fail_at=3), Recorder()
    p = Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS, video_sinks=[other, bad])
    with pytest.raises(OSError, match="unplugged"):
        p.run(chunks(tone(1.0)))
    assert bad.closed == 1 and other.closed == 1
    with pytest.raises(PipelineError):
        p.process(next(chunks(tone(0.1))))


def _live(stage: FakeStage, audio: np.ndarray, sinks: list, motion_sinks: list | None = None, **kw) -> Pipeline:
    p = Pipeline(FakeMotion(FPS), stage, fps=FPS, video_sinks=sinks, motion_sinks=motion_sinks or [], **kw)
    stop = threading.Event()
    p.start(paced(chunks(audio), stop=stop), close_source=stop.set)
    return p


def test_live_paces_frames_and_reports_latency() -> None:
    clock = LockstepClock()
    rec = Recorder(clock=clock)
    audio = _speech(reps=1)
    motion = Counted(FakeMotion(FPS))
    p = Pipeline(motion, FakeStage(), fps=FPS, video_sinks=[rec], clock=clock)
    clock.follow(p, motion)
    stop = threading.Event()
    p.start(clock.source(list(chunks(audio)), stop), close_source=stop.set)
    assert p.wait(30.0), "a finite source ends the live pipeline"
    s = p.stats()
    p.stop()
    assert pyavatar_threads() == []
    new = [f for f in rec.frames if not f.repeat and f.index >= 0]
    assert [f.index for f in new] == list(range(math.ceil(len(audio) / 16000 * FPS)))  # every frame, in order
    assert s["drops"] == 0 and s["repeats"] == 0
    times = np.array([t for t, f in rec.items if f.index >= 0])
    gaps = np.diff(times)
    # one frame per tick at the set rate (to the ns); the adaptive delay settled after the first frame,
    # which moved the grid once (a shorter interval, nothing dropped or repeated)
    assert 0 < gaps[0] <= 1e9 / FPS and np.abs(gaps[1:] - 1e9 / FPS).max() <= 1
    assert s["latency_frames"] == len(new) and 0 < s["p50_ms"] <= s["p95_ms"] <= s["max_ms"] < 1000
    assert s["frames_out"] == len(rec.frames) and s["stages_ms"]["render"]["count"] >= len(new)


def test_live_controls_jump_the_queue() -> None:
    clock = LockstepClock()
    rec = Recorder(clock=clock)
    motion = Counted(FakeMotion(FPS))
    p = Pipeline(motion, FakeStage(), fps=FPS, video_sinks=[Recorder()], motion_sinks=[rec], clock=clock)
    clock.follow(p, motion)
    sent = clock.now_ns() + 600_000_000

    def send() -> None:
        p.send(ctl.SetEmotion("happy"))
        p.send(ctl.SwapRenderer(7))

    clock.at(sent, send)
    stop = threading.Event()
    p.start(clock.source(list(chunks(tone(2.0))), stop), close_source=stop.set)
    assert p.wait(30.0)
    p.stop()
    # every motion frame made after the events were sent carries the new emotion (no chunk waits in a queue)
    early = [f for t, f in rec.items if t < sent]
    late = [f for t, f in rec.items if t >= sent]
    assert len(early) >= 15 and all(f.emotion == "neutral" for f in early)
    assert len(late) >= 40 and all(f.emotion == "happy" for f in late)
    assert p.renderer.tag == 7  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="int tag"):
        p.send(ctl.SwapRenderer("x"))


def _lockstep(stage: FakeStage, clock: LockstepClock, sinks: list, **kw: object) -> tuple[Pipeline, Counted]:
    motion = Counted(FakeMotion(FPS))
    p = Pipeline(motion, stage, fps=FPS, video_sinks=sinks, clock=clock, **kw)  # type: ignore[arg-type]
    clock.follow(p, motion)
    return p, motion


def test_slow_renderer_drops_newest_wins_without_blocking_capture() -> None:
    clock = LockstepClock()
    rec = Recorder(clock=clock)
    # each frame takes 70 ms of clock time to render (about 2 output periods); the playout delay is fixed,
    # so the figures below follow from the render stage alone (not from the pacer's adaptive delay)
    p, motion = _lockstep(FakeStage(work=lambda: clock.spend(70_000_000)), clock, [rec], delay_ms=100.0)
    stop = threading.Event()
    p.start(clock.source(list(chunks(tone(2.0))), stop), close_source=stop.set)
    assert p.wait(60.0)
    s = p.stats()
    p.stop()
    assert pyavatar_threads() == []
    drops = s["drops_by_stage"]
    assert drops.get("render", 0) > 0  # newest-wins: frames a newer one overtook were skipped, not rendered late
    assert s["counters"]["audio_chunks"] == len(list(chunks(tone(2.0))))  # capture kept up: every chunk went on
    assert s["counters"].get("audio_chunks_dropped", 0) == 0 and drops.get("render_queue", 0) == 0
    new = [f.index for f in rec.frames if not f.repeat and f.index >= 0]
    assert new == sorted(set(new)) and len(new) + s["drops"] == motion.produced == 60  # each frame shown or dropped
    assert len(new) <= 60 * 33 // 70 + 1  # no more than the renderer could make
    assert s["repeats"] > 0  # the output kept its rate, repeating the last frame between new ones
    # the output never waits for the renderer: no gap between two frames is longer than one tick
    times = np.array([t for t, _ in rec.items])
    assert times[-1] - times[0] >= 2e9 and np.diff(times).max() <= 1e9 / FPS + 1


def test_render_failure_stops_and_is_reraised() -> None:
    p = _live(FakeStage(fail_at=10), tone(3.0), [Recorder()])
    assert p.wait(10.0)
    with pytest.raises(RuntimeError, match="render failed at frame 10"):
        p.stop()
    assert pyavatar_threads() == []


def test_sink_failure_stops_and_is_reraised() -> None:
    sink = Recorder(fail_at=5)
    p = _live(FakeStage(), tone(3.0), [sink])
    assert p.wait(10.0)
    with pytest.raises(OSError, match="unplugged"):
        p.stop()
    assert sink.closed == 1 and pyavatar_threads() == []


def test_pause_holds_the_frame_and_flush_discards() -> None:
    clock = LockstepClock()
    rec = Recorder(clock=clock)
    # a fixed 200 ms playout delay keeps about six frames waiting in the pacer: the ones a flush discards
    p, _ = _lockstep(FakeStage(), clock, [rec], delay_ms=200.0)
    t0 = clock.now_ns()
    at: dict[str, int] = {}

    def pause() -> None:
        p.send(ctl.Pause(True))
        at["paused"], at["paused_ns"] = len(rec.frames), clock.now_ns()

    def resume_and_flush() -> None:
        at["resumed"], at["waiting"] = len(rec.frames), p.stats()["queues"]["pacer"]
        p.send(ctl.Pause(False))
        p.send(ctl.Flush())

    clock.at(t0 + 500_000_000, pause)
    clock.at(t0 + 1_400_000_000, resume_and_flush)
    clock.at(t0 + 2_000_000_000, lambda: p.send(ctl.Stop()))
    stop = threading.Event()
    p.start(clock.source(list(chunks(tone(2.5))), stop), close_source=stop.set)
    assert p.wait(60.0), "Stop ends the session"
    s = p.stats()
    p.stop()
    assert pyavatar_threads() == []
    before, held, after = (
        rec.frames[: at["paused"]],
        rec.frames[at["paused"] : at["resumed"]],
        rec.frames[at["resumed"] :],
    )
    # paused: the last frame shown, held on every tick (0.9 s at 30 fps), nothing rendered reaches the output
    assert len(held) == 27 and all(f.repeat and f.index == before[-1].index for f in held)
    rest = sum(f.index < 0 for f in before)  # the neutral portrait, held before the first frame was due
    assert s["counters"]["held"] == rest + len(held)
    assert s["counters"]["paused_chunks"] == 90  # 0.9 s of 10 ms chunks, discarded at capture
    # the flush discarded the frames waiting in the pacer: none made before the pause is shown afterwards
    assert at["waiting"] > 0 and s["counters"]["flushed"] == at["waiting"]
    shown_after = [f for f in after if not f.repeat]
    assert shown_after and all(f.capture_ns > at["paused_ns"] for f in shown_after)
    assert t0 + 2e9 - 1e9 / FPS <= rec.items[-1][0] < t0 + 2e9  # ticks up to the Stop, nothing after it
    assert s["counters"]["controls"] == 4


def test_live_source_must_be_on_the_clock() -> None:
    p = Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS)
    p.start(chunks(tone(0.5), start_ns=0))  # stream time 0, not clock time
    assert p.wait(5.0)
    with pytest.raises(ValueError, match="pipeline clock"):
        p.stop()
    with pytest.raises(PipelineError, match="stopped"):
        p.start(iter(()))


def test_sinks_are_checked_by_what_they_receive() -> None:
    from pyavatar.outputs.callback import CallbackSink, MotionCallbackSink

    with pytest.raises(TypeError, match="MotionCallbackSink is not a video sink"):
        Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS, video_sinks=[MotionCallbackSink(print)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="CallbackSink is not a motion sink"):
        Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS, motion_sinks=[CallbackSink(print)])  # type: ignore[list-item]
    both, video = Recorder(), CallbackSink(lambda f: None)
    p = Pipeline(FakeMotion(FPS), FakeStage(), fps=FPS)
    p.add_sink(both)
    p.add_sink(video)
    with pytest.raises(TypeError, match="str is not an output"):
        p.add_sink("out.mp4")
    assert p.video_sinks == [both, video] and p.motion_sinks == [both]
    n = p.run(chunks(tone(0.5)))
    assert both.started is not None and both.closed == 1  # opened and closed once
    assert len(both.frames) == 2 * n  # every motion frame and every video frame
    with pytest.raises(PipelineError, match="before the pipeline starts"):
        p.add_sink(Recorder())
