"""The streaming engine: audio → motion → render → outputs, offline or live.

Stages are duck-typed processors (:class:`MotionProcessor`,
:class:`FrameRenderer`) and sinks (:class:`~pyavatar.runtime.sinks.VideoSink`,
:class:`~pyavatar.runtime.sinks.MotionSink`, checked when added); the same
objects run in one of two modes (:class:`State`)

- **offline** (:meth:`Pipeline.process` / :meth:`Pipeline.run`): synchronous in
  the caller's thread, every frame rendered and written in order;
- **live** (:meth:`Pipeline.start`): four threads joined by bounded queues::

    capture ──(audio, drop-oldest)──▶ motion ──(frames, drop-oldest)──▶ render ──▶ pacer ──▶ video sinks
                                        └──▶ motion sinks (OSC/VMC senders keep their own rate)

  Capture never blocks: when motion falls behind, the oldest audio is dropped
  and counted (the gap restarts the motion processor). The render stage skips
  frames a newer queued frame has overtaken (newest-wins, counted) and the
  :class:`~pyavatar.runtime.pacer.Pacer` emits at the output rate, repeating or
  dropping frames (counted).

Control events (:mod:`pyavatar.runtime.control`) bypass the queues: motion
events apply before the motion stage's next audio chunk, renderer swaps before
the next rendered frame. An exception in any thread stops the pipeline and is
re-raised by :meth:`Pipeline.stop`; nothing is swallowed.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any, Protocol

from pyavatar.packets import AudioChunk, MotionFrame
from pyavatar.runtime import control as ctl
from pyavatar.runtime.clock import Clock, MonotonicClock
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.interpolate import MotionUpsampler
from pyavatar.runtime.metrics import Metrics
from pyavatar.runtime.pacer import Pacer
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout
from pyavatar.runtime.sinks import MotionSink, Sink, VideoSink, sink_roles

log = logging.getLogger(__name__)

_END = object()  # end-of-stream marker in the data queues
_POLL_S = 0.1  # how often blocked threads look at the stop flag
_GAP_NS = 1_000_000  # audio timestamps further apart than this from contiguous mark a gap
#: Live chunks must end within this many seconds of the pipeline clock.
MAX_CLOCK_SKEW_S = 10.0


class MotionProcessor(Protocol):
    """Audio → motion frames at :attr:`fps` (see :class:`pyavatar.sdk.motion.MotionStage`)."""

    fps: float

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Frames completed by ``chunk``; ``live``: its timestamps are clock times (so frames get capture times)."""

    def flush(self) -> list[MotionFrame]:
        """Frames of the stream's tail; then start a new stream."""

    def reset(self) -> None:
        """Start a new stream (after a gap, a flush or a pause) without emitting the tail."""

    def check_control(self, event: Any) -> None:
        """Raise ValueError if ``event`` cannot be applied."""

    def apply_control(self, event: Any) -> None:
        """Apply a motion control event."""


class FrameRenderer(Protocol):
    """Motion frames → video frames of a fixed size (see :class:`pyavatar.sdk.avatar.PortraitStage`)."""

    width: int
    height: int
    has_alpha: bool

    def render(self, frames: Sequence[MotionFrame]) -> list[VideoFrame]:
        """One video frame per motion frame."""

    def rest_frame(self) -> VideoFrame:
        """The neutral portrait (shown before the first rendered frame)."""

    def check_control(self, event: Any) -> None:
        """Raise ValueError if ``event`` cannot be applied."""

    def apply_control(self, event: Any) -> None:
        """Apply a render control event (renderer swap)."""


class State(str, Enum):
    """Where a pipeline is: ``new`` → ``offline`` (open/process/finish/close) or ``live`` (start/stop) → ``stopped``.

    The mode decides how motion is made: live chunks carry clock times (frames get capture times).
    Members compare equal to their names as strings.
    """

    NEW = "new"
    OFFLINE = "offline"
    LIVE = "live"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


class PipelineError(RuntimeError):
    """The pipeline is in the wrong state for a call, or a thread did not finish."""


class Pipeline:
    """One session's stages, queues, threads and metrics.

    Args:
        motion: the audio → motion processor.
        renderer: the motion → frames stage.
        fps: output frame rate (motion is interpolated when ``motion.fps`` is lower).
        video_sinks, motion_sinks: outputs.
        clock: time source (default monotonic).
        delay_ms: fixed playout delay of the pacer (default: adaptive).
        audio_queue: audio chunks kept waiting for the motion stage at most.
        render_queue: motion frames kept waiting for the renderer at most.
    """

    def __init__(
        self,
        motion: MotionProcessor,
        renderer: FrameRenderer,
        *,
        fps: float,
        video_sinks: Sequence[VideoSink] = (),
        motion_sinks: Sequence[MotionSink] = (),
        clock: Clock | None = None,
        delay_ms: float | None = None,
        audio_queue: int = 200,
        render_queue: int = 16,
    ) -> None:
        self.motion = motion
        self.renderer = renderer
        self.fps = float(fps)
        self.video_sinks: list[VideoSink] = []
        self.motion_sinks: list[MotionSink] = []
        for video in video_sinks:
            if not isinstance(video, VideoSink):
                raise TypeError(f"{type(video).__name__} is not a video sink (needs start, write_video, close)")
            self.video_sinks.append(video)
        for motion_sink in motion_sinks:
            if not isinstance(motion_sink, MotionSink):
                raise TypeError(f"{type(motion_sink).__name__} is not a motion sink (needs start, write_motion, close)")
            self.motion_sinks.append(motion_sink)
        self.clock = clock or MonotonicClock()
        self.metrics = Metrics(self.clock)
        self.delay_ms = delay_ms
        self._upsampler = MotionUpsampler(motion.fps, self.fps)
        self._audio_q: BoundedQueue[Any] = BoundedQueue(audio_queue, Policy.DROP_OLDEST, "audio")
        self._render_q: BoundedQueue[Any] = BoundedQueue(render_queue, Policy.DROP_OLDEST, "render")
        self._motion_inbox: deque[Any] = deque()
        self._render_inbox: deque[Any] = deque()
        self._reset_motion = threading.Event()
        self._paused = threading.Event()
        self._halt = threading.Event()  # threads: leave now
        self._done = threading.Event()  # wait(): stop requested, stream finished or failed
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._close_source: Callable[[], None] | None = None
        self._opened: list[Sink] = []
        self._state = State.NEW
        self._expected_pts: int | None = None
        self.pacer: Pacer | None = None
        self._render_ended = threading.Event()

    # ------------------------------------------------------------------ common

    @property
    def state(self) -> State:
        """``new``, ``offline``, ``live``, ``stopped``."""
        return self._state

    def add_sink(self, sink: object) -> None:
        """Add an output before the pipeline opens: a video sink, a motion sink, or both (TypeError otherwise)."""
        if self._state is not State.NEW:
            raise PipelineError(f"add outputs before the pipeline starts (it is {self._state})")
        video, motion = sink_roles(sink)
        if video:
            assert isinstance(sink, VideoSink)
            self.video_sinks.append(sink)
        if motion:
            assert isinstance(sink, MotionSink)
            self.motion_sinks.append(sink)

    def stats(self) -> dict[str, Any]:
        """Metrics snapshot plus queue depths, pacer delay and state."""
        snap = self.metrics.snapshot()
        snap["state"] = self._state.value
        snap["paused"] = self._paused.is_set()
        snap["queues"] = {
            "audio": len(self._audio_q),
            "render": len(self._render_q),
            "pacer": self.pacer.pending if self.pacer else 0,
        }
        snap["delay_ms"] = self.pacer.delay_ns / 1e6 if self.pacer else 0.0
        return snap

    def send(self, event: ctl.ControlEvent) -> None:
        """Apply a control event from the next frame (raises ValueError for an invalid one)."""
        if isinstance(event, ctl.MOTION_EVENTS):
            self.motion.check_control(event)
            self._motion_inbox.append(event)
        elif isinstance(event, ctl.SwapRenderer):
            self.renderer.check_control(event)
            self._render_inbox.append(event)
        elif isinstance(event, ctl.Pause):
            if event.paused:
                self._paused.set()
            elif self._paused.is_set():
                self._paused.clear()
                self._reset_motion.set()
        elif isinstance(event, ctl.Flush):
            self.flush()
        elif isinstance(event, ctl.Stop):
            self._done.set()
        else:
            raise ValueError(f"unknown control event {event!r}")
        self.metrics.count("controls")

    def flush(self) -> None:
        """Discard queued audio, motion and frames; motion restarts from the next audio."""
        n = self._audio_q.clear() + self._render_q.clear() + (self.pacer.clear() if self.pacer else 0)
        self.metrics.count("flushed", n)
        self._reset_motion.set()

    def _apply_motion_controls(self) -> None:
        while self._motion_inbox:
            self.motion.apply_control(self._motion_inbox.popleft())
        if self._reset_motion.is_set():
            self._reset_motion.clear()
            self.motion.reset()
            self._upsampler.reset()
            self._expected_pts = None

    def _apply_render_controls(self) -> None:
        while self._render_inbox:
            with self.metrics.timed("renderer_swap"):
                self.renderer.apply_control(self._render_inbox.popleft())

    def _open_sinks(self) -> None:
        info = StreamInfo(self.renderer.width, self.renderer.height, self.fps, self.renderer.has_alpha, self.stats)
        try:
            for sink in [*self.motion_sinks, *self.video_sinks]:
                if any(sink is s for s in self._opened):
                    continue  # a sink of both kinds opens once
                sink.start(info)
                self._opened.append(sink)
        except BaseException:
            self._close_sinks(failed=True)
            raise

    def _close_sinks(self, failed: bool = False) -> list[BaseException]:
        """Close every opened sink; after a failure, sinks with ``abort()`` (files) discard what they wrote."""
        errors: list[BaseException] = []
        while self._opened:
            sink = self._opened.pop()
            try:
                abort = getattr(sink, "abort", None) if failed else None
                (abort if callable(abort) else sink.close)()
            except Exception as e:  # collected and re-raised by the caller
                errors.append(e)
        return errors

    def _motion_from(self, chunk: AudioChunk) -> list[MotionFrame]:
        """Motion frames completed by ``chunk`` (a gap in the timestamps restarts the motion), sent to motion sinks.

        Live chunks carry clock times, so their frames get capture times.
        """
        if self._expected_pts is not None and abs(chunk.pts_ns - self._expected_pts) > _GAP_NS:
            self.metrics.count("audio_gaps")
            self.motion.reset()
            self._upsampler.reset()
        self._expected_pts = chunk.end_pts_ns
        with self.metrics.timed("motion"):
            # only the live threads process outside offline mode (also while stop() joins them)
            raw = self.motion.process(chunk, self._state is not State.OFFLINE)
        return self._emit_motion([f for r in raw for f in self._upsampler.process(r)])

    def _motion_tail(self) -> list[MotionFrame]:
        """The stream's last motion frames (end of audio), sent to motion sinks; the next chunk starts a new stream."""
        out = [f for r in self.motion.flush() for f in self._upsampler.process(r)]
        out.extend(self._upsampler.flush())
        self._expected_pts = None
        return self._emit_motion(out)

    def _emit_motion(self, frames: list[MotionFrame]) -> list[MotionFrame]:
        for f in frames:
            for sink in self.motion_sinks:
                sink.write_motion(f)
        return frames

    # ----------------------------------------------------------------- offline

    def open(self) -> None:
        """Start the outputs for offline use (:meth:`process`, :meth:`finish`)."""
        if self._state is not State.NEW:
            raise PipelineError(f"open(): pipeline is {self._state}")
        self._open_sinks()
        self._state = State.OFFLINE
        self.metrics.reset()

    def process(self, chunk: AudioChunk) -> list[VideoFrame]:
        """Offline: every frame completed by ``chunk``, rendered and written to the outputs in order."""
        if self._state is not State.OFFLINE:
            raise PipelineError(f"process(): call open() first (pipeline is {self._state})")
        self._apply_motion_controls()
        return self._render_offline(self._motion_from(chunk))

    def finish(self) -> list[VideoFrame]:
        """Offline: the stream's last frames (end of audio)."""
        if self._state is not State.OFFLINE:
            raise PipelineError(f"finish(): pipeline is {self._state}")
        self._apply_motion_controls()
        return self._render_offline(self._motion_tail())

    def _render_offline(self, frames: list[MotionFrame]) -> list[VideoFrame]:
        if not frames:
            return []
        self._apply_render_controls()
        with self.metrics.timed("render"):
            video = self.renderer.render(frames)
        for v in video:
            self.metrics.frame_in()
            with self.metrics.timed("output"):
                for sink in self.video_sinks:
                    sink.write_video(v)
            self.metrics.frame_out(self.clock.now_ns(), -1, "new")
        return video

    def close(self, failed: bool = False) -> None:
        """Offline: close the outputs (``failed``: abort them) and raise the first error any of them raised."""
        errors = self._close_sinks(failed)
        self._state = State.STOPPED
        if errors:
            raise errors[0]

    def run(self, chunks: Iterable[AudioChunk], progress: Callable[[float], None] | None = None) -> int:
        """Offline: the whole stream through every stage; returns the number of frames written.

        ``progress`` receives the seconds of audio processed after every chunk.
        """
        self.open()
        n = 0
        try:
            for chunk in chunks:
                n += len(self.process(chunk))
                if progress is not None:
                    progress(chunk.end_pts_ns / 1e9)
            n += len(self.finish())
        except BaseException:
            errors = self._close_sinks(failed=True)
            self._state = State.STOPPED
            for e in errors:
                log.error("closing an output after a failure: %s", e)
            raise
        self.close()
        return n

    # -------------------------------------------------------------------- live

    def start(self, source: Iterable[AudioChunk], *, close_source: Callable[[], None] | None = None) -> None:
        """Live: run ``source`` through the threads until :meth:`stop`.

        Args:
            source: audio chunks whose timestamps are times of the pipeline's clock
                (a :class:`~pyavatar.audio.mic.MicSource`, or a file or pushed audio
                stamped by :mod:`pyavatar.sdk.sources`); a chunk stamped more than
                ``MAX_CLOCK_SKEW_S`` away from the clock stops the pipeline with a ValueError.
            close_source: called by :meth:`stop` to end a blocking source.
        """
        if self._state is not State.NEW:
            raise PipelineError(f"start(): pipeline is {self._state}")
        self._close_source = close_source
        self._open_sinks()
        self.metrics.reset()
        self.pacer = Pacer(self.fps, self.metrics, self.clock.now_ns(), delay_ms=self.delay_ms)
        self.pacer.set_rest(self.renderer.rest_frame())
        self._state = State.LIVE
        bodies = [
            ("capture", lambda: self._capture_loop(source)),
            ("motion", self._motion_loop),
            ("render", self._render_loop),
            ("output", self._output_loop),
        ]
        for name, body in bodies:
            t = threading.Thread(target=self._guard, args=(body,), name=f"pyavatar-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _guard(self, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as e:  # stored and re-raised by stop()
            if isinstance(e, QueueClosed) and self._halt.is_set():
                return  # stop() closed the queues under this thread: a normal end, not a failure
            log.debug("pipeline thread %s failed", threading.current_thread().name, exc_info=True)
            self._errors.append(e)
            self._done.set()
            self._halt.set()

    def _capture_loop(self, source: Iterable[AudioChunk]) -> None:
        try:
            for chunk in source:
                if self._halt.is_set():
                    break
                if self._paused.is_set():
                    self.metrics.count("paused_chunks")
                    continue
                skew = abs(self.clock.now_ns() - chunk.end_pts_ns) / 1e9
                if skew > MAX_CLOCK_SKEW_S:
                    raise ValueError(
                        f"live audio must be stamped on the pipeline clock: a chunk ends {skew:.1f} s away from "
                        "now (pace files and pushed audio with pyavatar.sdk.sources)"
                    )
                self.metrics.count("audio_chunks")
                if self._audio_q.put(chunk):
                    self.metrics.count("audio_chunks_dropped")
            self._audio_q.put(_END)
        except QueueClosed:
            return

    def _next(self, q: BoundedQueue[Any]) -> Any:
        """The next queue item, or None when halted."""
        while not self._halt.is_set():
            try:
                return q.get(timeout=_POLL_S)
            except QueueTimeout:
                continue
            except QueueClosed:
                return None
        return None

    def _motion_loop(self) -> None:
        while (item := self._next(self._audio_q)) is not None:
            self._apply_motion_controls()
            frames = self._motion_tail() if item is _END else self._motion_from(item)
            for f in frames:
                if self._render_q.put(f):
                    self.metrics.drop("render_queue")
            if item is _END:
                self._render_q.put(_END)
                return

    def _render_loop(self) -> None:
        assert self.pacer is not None
        period = 1e9 / self.fps
        while (item := self._next(self._render_q)) is not None:
            if item is _END:
                self._render_ended.set()
                return
            self._apply_render_controls()
            # newest-wins: a frame whose display slot will have passed is skipped when a newer one waits
            last = False
            while len(self._render_q) and self.clock.now_ns() > self.pacer.due_ns(item.capture_ns) + period / 2:
                try:
                    newer = self._render_q.get(timeout=0)
                except (QueueTimeout, QueueClosed):
                    break
                if newer is _END:  # no newer frame: this one is the stream's last
                    last = True
                    break
                self.metrics.drop("render")
                item = newer
            with self.metrics.timed("render"):
                (video,) = self.renderer.render([item])
            self.pacer.offer(_ready(video, self.clock.now_ns()))
            if last:
                self._render_ended.set()
                return

    def _output_loop(self) -> None:
        pacer = self.pacer
        assert pacer is not None
        period = 1e9 / self.fps
        while not self._halt.is_set():
            t = pacer.next_tick_ns()
            if not self.clock.sleep_until(t, self._halt) or self._done.is_set():
                return  # halted, or the session ended (Stop, a failure): no frames after the end
            if self.clock.now_ns() - t > period:
                self.metrics.count("late_ticks", pacer.skip_to(self.clock.now_ns()))
            if self._paused.is_set():
                frame, kind = pacer.hold(), "hold"
            else:
                frame, kind = pacer.tick()
            if frame is not None:
                with self.metrics.timed("output"):
                    for sink in self.video_sinks:
                        sink.write_video(frame)
                self.metrics.frame_out(self.clock.now_ns(), frame.capture_ns, kind)
            if self._render_ended.is_set() and pacer.pending == 0:
                self._done.set()  # the source ended and every frame was shown
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Live: block until a Stop event, the end of a finite source, or a failure; False on timeout."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        """Live and not finished."""
        return self._state is State.LIVE and not self._done.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """Live: stop every thread, release the source and outputs, and re-raise the first failure."""
        if self._state is not State.LIVE:
            if self._state is State.OFFLINE:
                self.close()
            return
        self._done.set()
        self._halt.set()
        errors: list[BaseException] = []
        if self._close_source is not None:
            try:
                self._close_source()
            except Exception as e:
                errors.append(e)
        self._audio_q.close()
        self._render_q.close()
        stuck = []
        for t in self._threads:
            t.join(timeout)
            if t.is_alive():
                stuck.append(t.name)
        self._threads.clear()
        errors = self._errors + errors + self._close_sinks(failed=bool(self._errors))  # a thread's failure first
        self._state = State.STOPPED
        if stuck:
            errors.append(PipelineError(f"threads did not finish within {timeout} s: {stuck}"))
        for extra in errors[1:]:
            log.error("pyavatar pipeline: another failure while stopping: %r", extra)
        if errors:
            raise errors[0]


def _ready(frame: VideoFrame, now_ns: int) -> VideoFrame:
    return replace(frame, ready_ns=now_ns)
