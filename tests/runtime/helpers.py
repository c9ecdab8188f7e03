"""Fakes shared by the runtime, output and integration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from pyavatar.face.params import NAMES
from pyavatar.packets import NS_PER_S, AudioChunk, MotionFrame
from pyavatar.runtime import control as ctl
from pyavatar.runtime.clock import Clock, FakeClock, MonotonicClock
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.pipeline import MotionProcessor, Pipeline

JAW = NAMES.index("jaw_open")


class FakeMotion:
    """Frames at ``fps`` whose jaw_open is the peak level of the audio they cover; records controls.

    ``lip_scale`` multiplies the jaw; ``SetEmotion`` is stored in every following frame.
    """

    def __init__(self, fps: float = 30.0) -> None:
        self.fps = fps
        self.lip_scale = 1.0
        self.emotion = "neutral"
        self.resets = 0
        self.applied: list[Any] = []
        self._origin: int | None = None
        self._pending = np.zeros(0, np.float32)
        self._next = 0
        self._live = False
        self._rate = 0

    def check_control(self, event: Any) -> None:
        if isinstance(event, ctl.SetEmotion) and event.name == "bogus":
            raise ValueError("unknown emotion 'bogus'")

    def apply_control(self, event: Any) -> None:
        self.applied.append(event)
        if isinstance(event, ctl.SetLipScale):
            self.lip_scale = event.scale
        elif isinstance(event, ctl.SetEmotion):
            self.emotion = event.name

    def reset(self) -> None:
        self.resets += 1
        self._origin = None
        self._pending = np.zeros(0, np.float32)

    def _frame(self, k: int, level: float) -> MotionFrame:
        assert self._origin is not None
        pts = self._origin + round(k * NS_PER_S / self.fps)
        params = np.zeros(len(NAMES), np.float32)
        params[JAW] = min(1.0, level * self.lip_scale)
        cap = pts + round(0.5 * NS_PER_S / self.fps) if self._live else -1
        return MotionFrame(k, pts, self.fps, cap, params, np.zeros(5, np.float32), emotion=self.emotion)

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        self._live = live
        if self._origin is None:
            self._origin, self._rate, self._next = chunk.pts_ns, chunk.sample_rate, 0
        self._pending = np.concatenate([self._pending, chunk.samples])
        per = chunk.sample_rate / self.fps
        out = []
        while len(self._pending) >= round((self._next + 1) * per) - round(self._next * per):
            n = round((self._next + 1) * per) - round(self._next * per)
            block, self._pending = self._pending[:n], self._pending[n:]
            out.append(self._frame(self._next, float(np.abs(block).max(initial=0.0))))
            self._next += 1
        return out

    def flush(self) -> list[MotionFrame]:
        out = [self._frame(self._next, float(np.abs(self._pending).max()))] if len(self._pending) else []
        self.reset()
        return out


class FakeStage:
    """8x8 frames whose pixels are round(jaw_open * 255); a swap changes ``tag`` (added to blue).

    ``work`` is called once per frame (a slow renderer: ``lambda: clock.spend(70_000_000)``).
    """

    width = 8
    height = 8
    has_alpha = False

    def __init__(self, work: Callable[[], object] | None = None, fail_at: int | None = None) -> None:
        self.tag = 0
        self.work = work
        self.fail_at = fail_at
        self.rendered: list[int] = []

    def render(self, frames: Sequence[MotionFrame]) -> list[VideoFrame]:
        out = []
        for f in frames:
            if self.fail_at is not None and f.index >= self.fail_at:
                raise RuntimeError(f"render failed at frame {f.index}")
            if self.work is not None:
                self.work()
            img = np.full((8, 8, 3), round(float(f.params[JAW]) * 255), np.uint8)
            img[..., 2] = self.tag
            self.rendered.append(f.index)
            out.append(VideoFrame(img, f))
        return out

    def rest_frame(self) -> VideoFrame:
        zero = MotionFrame(-1, 0, 0.0, -1, np.zeros(len(NAMES), np.float32), np.zeros(5, np.float32))
        return VideoFrame(np.zeros((8, 8, 3), np.uint8), zero)

    def check_control(self, event: Any) -> None:
        if not isinstance(event.renderer, int):
            raise ValueError("FakeStage swaps take an int tag")

    def apply_control(self, event: Any) -> None:
        self.tag = event.renderer


class Recorder:
    """A video and motion sink that keeps (arrival time, frame); times come from ``clock`` (default monotonic)."""

    def __init__(self, fail_at: int | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self.items: list[tuple[int, Any]] = []
        self.started: StreamInfo | None = None
        self.closed = 0
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def start(self, info: StreamInfo) -> None:
        self.started = info

    def write_video(self, frame: VideoFrame) -> None:
        self._record(frame)

    def write_motion(self, frame: MotionFrame) -> None:
        self._record(frame)

    def _record(self, frame: VideoFrame | MotionFrame) -> None:
        if self.fail_at is not None and len(self.items) >= self.fail_at:
            raise OSError("sink unplugged")
        with self.lock:
            self.items.append((self.clock.now_ns(), frame))

    def close(self) -> None:
        self.closed += 1

    @property
    def frames(self) -> list[Any]:
        with self.lock:
            return [f for _, f in self.items]


class Counted:
    """A motion processor that counts its finished units of work (chunks and the end-of-stream flush) and frames."""

    def __init__(self, motion: MotionProcessor) -> None:
        self.inner = motion
        self.fps = motion.fps
        self.done = 0
        self.produced = 0

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        out = self.inner.process(chunk, live)
        self.produced += len(out)  # before done: a reader that sees the unit done sees its frames
        self.done += 1
        return out

    def flush(self) -> list[MotionFrame]:
        out = self.inner.flush()
        self.produced += len(out)
        self.done += 1
        return out

    def reset(self) -> None:
        self.inner.reset()

    def check_control(self, event: Any) -> None:
        self.inner.check_control(event)

    def apply_control(self, event: Any) -> None:
        self.inner.apply_control(event)


class LockstepClock(FakeClock):
    """A fake clock that a live pipeline's output thread drives, one tick at a time, on a settled pipeline.

    Time moves only in :meth:`sleep_until` (the output thread waiting for its next tick), and only once
    every chunk :meth:`source` released has been turned into frames that reached the pacer (or were
    dropped, counted), or was discarded while paused: :meth:`follow`. A stage that takes clock time
    (a slow renderer) calls :meth:`spend`; it holds its frame, the frames behind it stay queued, and it
    goes on only on a settled pipeline at its wake time. A run is then the same on a loaded machine as
    on an idle one.
    """

    def __init__(self, start_ns: int = 1_000_000_000, timeout_s: float = 20.0) -> None:
        super().__init__(start_ns)
        self.timeout_s = timeout_s
        self.released = 0  # chunks released by the source, plus one for the end of the stream
        self._cond = threading.Condition()
        self._next_release: int | None = None  # clock time of the source's next release
        self._settled: Callable[[], bool] = lambda: True
        self._events: list[tuple[int, Callable[[], object]]] = []
        self._spending: list[int] = []  # wake times of the stages in spend()
        self._running: Callable[[], bool] = lambda: True  # spend() gives up once this is False

    def follow(self, pipeline: Pipeline, motion: Counted) -> None:
        """Advance only when ``pipeline`` (whose motion processor is ``motion``) has handled every release."""

        def settled() -> bool:
            done = motion.done  # read before produced (see Counted.process)
            paused = pipeline.metrics.counters.get("paused_chunks", 0)  # released while paused: discarded
            produced = motion.produced
            through = pipeline.metrics.fps_in.count + sum(
                pipeline.metrics.drops.get(k, 0) for k in ("render", "render_queue")
            )
            if done + paused != self.released:
                return False
            if produced == through:
                return True
            # a stage in spend() holds one frame each; the rest wait in the render queue
            held = len(self._spending)
            if not held:
                return False
            queued = pipeline.stats()["queues"]["render"]
            if self._next_release is None:  # the stream ended: the motion thread queues the end marker, then ends
                if any(t.name == "pyavatar-motion" for t in threading.enumerate()):
                    return False
                queued = max(0, queued - 1)  # the marker, unless the renderer has taken it already
            return produced == through + held + queued

        self.gate(settled)
        self._running = lambda: pipeline.running

    def gate(self, ready: Callable[[], bool]) -> None:
        """Move the clock only while ``ready()`` (checked every 2 ms; see :meth:`follow` for pipelines)."""
        self._settled = ready

    def at(self, t_ns: int, fn: Callable[[], object]) -> None:
        """Call ``fn()`` on a settled pipeline, in the thread that moves the clock, before time reaches ``t_ns``."""
        self._events.append((t_ns, fn))

    def _quiet(self) -> bool:
        """The source released what is due and the pipeline has settled (call with ``_cond`` held)."""
        return (self._next_release is None or self._next_release > self.now_ns()) and self._settled()

    def spend(self, dt_ns: int) -> None:
        """Take ``dt_ns`` of clock time in the calling stage: return on a settled pipeline at ``now + dt_ns``.

        Returns at once when the followed pipeline has stopped (its clock will not move again).
        """
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            wake = self.now_ns() + dt_ns
            self._spending.append(wake)
            try:
                while (self.now_ns() < wake or not self._quiet()) and self._running():
                    if time.monotonic() > deadline:
                        raise AssertionError(f"lockstep clock: no settled pipeline at {wake} within {self.timeout_s} s")
                    self._cond.wait(0.002)
            finally:
                self._spending.remove(wake)
                self._cond.notify_all()

    def sleep_until(self, t_ns: int, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            # a stage whose spend() is over must run first: time moves only while every spender still waits
            while not (all(w > self.now_ns() for w in self._spending) and self._quiet()):
                if stop is not None and stop.is_set():
                    return False
                if time.monotonic() > deadline:
                    raise AssertionError(f"lockstep clock: the pipeline did not settle within {self.timeout_s} s")
                self._cond.wait(0.002)
            for event in [e for e in self._events if e[0] <= t_ns]:
                self._events.remove(event)
                event[1]()
            moved = super().sleep_until(t_ns, stop)
            self._cond.notify_all()
            return moved

    def source(self, chunks: Sequence[AudioChunk], stop: threading.Event) -> Iterator[AudioChunk]:
        """``chunks`` re-stamped to start now, each released once the clock reaches its end (like a microphone)."""
        first, t0 = chunks[0].pts_ns, self.now_ns()
        ends = [t0 + c.end_pts_ns - first for c in chunks]
        with self._cond:
            self._next_release = ends[0]

        def release() -> Iterator[AudioChunk]:
            for i, c in enumerate(chunks):
                with self._cond:
                    while self.now_ns() < ends[i]:
                        if stop.is_set():
                            return
                        self._cond.wait(0.05)
                    self.released += 1
                    self._next_release = ends[min(i + 1, len(ends) - 1)]  # after the last: the end, due now
                yield AudioChunk(t0 + c.pts_ns - first, c.sample_rate, c.samples)
            with self._cond:  # the end of the stream (the motion flush) is released with the last chunk
                self.released += 1
                self._next_release = None

        return release()


def tone(seconds: float, rate: int = 16000, level: float = 0.5, freq: float = 220.0) -> np.ndarray:
    """A sine burst."""
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chunks(samples: np.ndarray, rate: int = 16000, ms: float = 10.0, start_ns: int = 0) -> Iterator[AudioChunk]:
    """``samples`` as contiguous AudioChunks of ``ms`` milliseconds from ``start_ns``."""
    step = round(rate * ms / 1000)
    for i in range(0, len(samples), step):
        yield AudioChunk(start_ns + i * NS_PER_S // rate, rate, samples[i : i + step])


def pyavatar_threads() -> list[str]:
    """Names of live threads started by pyavatar."""
    return [t.name for t in threading.enumerate() if t.name.startswith("pyavatar-")]
