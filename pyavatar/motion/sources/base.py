"""What the learned motion sources share: frame stamping, control refusal, and a streaming-window worker.

:class:`WindowedSource` runs a window engine (audio at 16 kHz in, raw frames
out, one model call per window) synchronously offline and in its own worker
thread live, so a window's compute never blocks the pipeline's motion stage:
``process`` hands the chunk to the worker and returns whatever frames the
worker has finished. Controls travel through the same queue as the audio, so
they apply from the next window in stream order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from pyavatar.audio.resample import Resampler
from pyavatar.face.mappings import to_visemes
from pyavatar.face.params import FaceParams
from pyavatar.motion.registry import CONTROLS, UnsupportedControl
from pyavatar.packets import NS_PER_S, VRM_VISEMES, AudioChunk, MotionFrame
from pyavatar.worker import Worker

log = logging.getLogger(__name__)
SPEECH_RATE = 16_000
SPEAKING_DB = -45.0  # frame loudness above which a frame counts as speech (the ``speaking`` flag)
#: Live: audio waiting for the worker beyond this many seconds is dropped (oldest first) and the stream restarts.
MAX_BACKLOG_S = 1.0
_END, _RESET, _STOP = object(), object(), object()


def refuse(source: str, control: str, supported: frozenset[str]) -> UnsupportedControl:
    """The error for a control ``source`` cannot honour."""
    if control not in CONTROLS:
        return UnsupportedControl(f"unknown motion control {control!r}; controls are {list(CONTROLS)}")
    return UnsupportedControl(
        f"motion source {source!r} cannot honour the {control} control; it supports {sorted(supported)}"
    )


def visemes_of(params: np.ndarray) -> np.ndarray:
    """(T, 5) VRM viseme weights split from the FaceParams mouth (T, F)."""
    v = to_visemes(FaceParams(params))
    return np.stack([np.asarray(v[name], np.float32) for name in VRM_VISEMES], axis=1)


def frame_loudness_db(samples: np.ndarray, per_frame: int) -> np.ndarray:
    """Loudness (dB) of each whole ``per_frame``-sample frame of ``samples``."""
    n = len(samples) // per_frame
    power = (samples[: n * per_frame].astype(np.float64).reshape(n, per_frame) ** 2).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-12))


#: One completed window: (first frame index, params (T, F), keypoints (T, 70) | None, reference (70,) | None,
#: loudness_db (T,)).
Window = tuple[int, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]


class WindowEngine:
    """One stream's window computation; subclasses fill :meth:`push`, :meth:`finish`, :meth:`reset`, controls.

    ``push`` takes 16 kHz mono samples and returns ``(first_frame, params (T, F), keypoints (T, 70) | None,
    reference (70,) | None, loudness_db (T,))`` for every whole window they complete (or None).
    """

    fps: float
    name: str
    controls: frozenset[str]

    def push(self, samples: np.ndarray) -> list[Window]:
        """Take 16 kHz mono samples; return every window they complete."""
        raise NotImplementedError

    def finish(self) -> list[Window]:
        """End of stream: return the windows the remaining audio completes (padded)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the stream (audio, context and frame count); keep the controls."""
        raise NotImplementedError

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """Raise :class:`UnsupportedControl` unless this engine honours ``name``."""
        if name not in self.controls:
            raise refuse(self.name, name, self.controls)

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a checked control from the next window on."""
        raise NotImplementedError


class WindowedSource:
    """A :class:`~pyavatar.motion.registry.MotionSource` around a :class:`WindowEngine` (see the module doc)."""

    def __init__(self, engine: WindowEngine, latency_s: float) -> None:
        self.engine = engine
        self.name = engine.name
        self.fps = engine.fps
        self.controls = engine.controls
        self._latency_s = latency_s
        self.window_times: deque[float] = deque(maxlen=500)
        self.windows = 0
        self._emotion, self._intensity = "neutral", 0.0
        self._session_origin: int | None = None
        self._worker: Worker | None = None
        self._inbox: deque[object] = deque()
        self._cond = threading.Condition()
        self._backlog_s = 0.0
        self.max_backlog_s: float | None = MAX_BACKLOG_S  # None: never drop (audio pushed faster than real time)
        self.dropped_chunks = 0
        self._closed = False
        self._out: list[MotionFrame] = []
        self._lock = threading.Lock()
        self._drained = threading.Event()  # the worker finished a flush, or ended
        self._reported = False  # process() or flush() raised the worker's failure
        self._new_stream()

    @property
    def latency_s(self) -> float:
        """Audio needed past a frame's centre before its window can run."""
        return self._latency_s

    # --------------------------------------------------------------- stream state (worker thread when live)

    def _new_stream(self) -> None:
        self._resampler: Resampler | None = None
        self._rate = 0
        self._origin: int | None = None
        self._live = False

    def _run_chunk(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        self._live = live
        if self._origin is None:
            self._origin = chunk.pts_ns
            if self._session_origin is None:
                self._session_origin = chunk.pts_ns
        if chunk.sample_rate != self._rate:
            if self._rate:  # a new rate mid-stream: a new stream
                self._engine_reset()
                self._origin = chunk.pts_ns
            self._rate = chunk.sample_rate
            self._resampler = None if chunk.sample_rate == SPEECH_RATE else Resampler(chunk.sample_rate, SPEECH_RATE)
        if self._resampler is not None:
            out = self._resampler.process(chunk)
            samples = out.samples if out is not None else np.zeros(0, np.float32)
        else:
            samples = chunk.samples
        return self._timed(lambda: self.engine.push(samples))

    def _run_flush(self) -> list[MotionFrame]:
        if self._origin is None:
            return []
        if self._resampler is not None:
            tail = self._resampler.flush()
            if tail is not None and len(tail.samples):
                frames = self._timed(lambda: self.engine.push(tail.samples))
            else:
                frames = []
        else:
            frames = []
        frames += self._timed(self.engine.finish)
        self._engine_reset()
        return frames

    def _engine_reset(self) -> None:
        self.engine.reset()
        self._new_stream()

    def _timed(self, fn: Callable[[], list[Window]]) -> list[MotionFrame]:
        t0 = time.perf_counter()
        windows = fn()
        if windows:
            dt = (time.perf_counter() - t0) / len(windows)
            for _ in windows:
                self.window_times.append(dt)
            self.windows += len(windows)
        return [f for w in windows for f in self._frames(*w)]

    def _frames(
        self, first: int, params: np.ndarray, kp: np.ndarray | None, ref: np.ndarray | None, loud: np.ndarray
    ) -> list[MotionFrame]:
        assert self._origin is not None and self._session_origin is not None
        visemes = visemes_of(params)
        half = round(0.5 * NS_PER_S / self.fps)
        out = []
        for i in range(len(params)):
            pts = self._origin + round((first + i) * NS_PER_S / self.fps)
            index = round((pts - self._session_origin) * self.fps / NS_PER_S)
            out.append(
                MotionFrame(
                    index,
                    pts,
                    self.fps,
                    pts + half if self._live else -1,
                    params[i],
                    visemes[i],
                    float(loud[i] > SPEAKING_DB),
                    self._emotion,
                    self._intensity,
                    None if kp is None else kp[i],
                    ref,
                )
            )
        return out

    # --------------------------------------------------------------------------- the MotionSource protocol

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Offline: the frames this chunk completes. Live: queue it for the worker; return finished frames."""
        if not live:
            return self._run_chunk(chunk, False)
        self._raise_worker_error()
        if self._closed:
            return []
        if self._worker is None:
            self._worker = Worker(f"motion-{self.name}", self._work, join_timeout=10.0, on_exit=self._drained.set)
            self._worker.start()
        with self._cond:
            if self.max_backlog_s is not None and self._backlog_s > self.max_backlog_s:  # behind real time
                kept = [item for item in self._inbox if not isinstance(item, AudioChunk)]
                self.dropped_chunks += len(self._inbox) - len(kept)
                self._inbox.clear()
                self._inbox.extend([*kept, _RESET])
                self._backlog_s = 0.0
            self._inbox.append(chunk)
            self._backlog_s += chunk.duration
            self._cond.notify()
        return self._take()

    def flush(self) -> list[MotionFrame]:
        """The stream's tail (live: after the worker has finished every queued window)."""
        if self._worker is None:
            return self._run_flush()
        self._drained.clear()
        self._put(_END)
        while not self._drained.wait(0.1) and not self._closed:
            self._raise_worker_error()
        self._raise_worker_error()
        return self._take()

    def reset(self) -> None:
        """Start a new stream (live: after the audio already queued)."""
        if self._worker is None:
            self._engine_reset()
        else:
            self._put(_RESET)

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """UnsupportedControl naming the source for a control it cannot honour."""
        self.engine.check_control(name, values)

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply from the next window (live: in stream order, in the worker)."""
        self.engine.check_control(name, values)
        if name == "emotion":
            self._emotion, self._intensity = values["name"], values["intensity"]
        elif name == "intensity":
            self._intensity = values["intensity"]
        if self._worker is None:
            self.engine.apply_control(name, values)
        else:
            self._put((name, values))

    def stats(self) -> dict[str, Any]:
        """The source's figures for the session stats.

        ``latency_ms`` (algorithmic), ``windows``, ``window_ms`` (p50/p95/max), ``rtf``, ``backlog_s`` (audio
        waiting for the worker) and ``dropped_chunks`` (live audio dropped while behind real time).
        """
        times = np.asarray(self.window_times, np.float64) * 1e3
        window_ms = (
            {"p50": float(np.median(times)), "p95": float(np.percentile(times, 95)), "max": float(times.max())}
            if len(times)
            else None
        )
        span = getattr(self.engine, "frames_per_window", 0) / self.fps
        return {
            "source": self.name,
            "latency_ms": self._latency_s * 1e3,
            "windows": self.windows,
            "window_ms": window_ms,
            "rtf": (window_ms["p50"] / 1e3 / span) if window_ms and span else None,
            "backlog_s": self._backlog_s,
            "dropped_chunks": self.dropped_chunks,
        }

    def close(self) -> None:
        """Stop the worker thread (idempotent); a waiting :meth:`flush` returns at once.

        A worker failure is raised by :meth:`process` and :meth:`flush`; one they never reported is logged here.
        """
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            self._put(_STOP, first=True)
            err = worker.join()
            if err is not None and not self._reported:
                log.error("motion source %r failed: %s", self.name, err)

    def _put(self, item: object, first: bool = False) -> None:
        with self._cond:
            if first:
                self._inbox.appendleft(item)
            else:
                self._inbox.append(item)
            self._cond.notify()

    # ----------------------------------------------------------------------------------------- worker

    def _take(self) -> list[MotionFrame]:
        with self._lock:
            out, self._out = self._out, []
        return out

    def _raise_worker_error(self) -> None:
        """Raise what the worker raised, in the motion stage's thread (every call after the failure)."""
        err = self._worker.error if self._worker is not None else None
        if err is not None:
            self._reported = True
            raise RuntimeError(f"motion source {self.name!r} failed: {err}") from err

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._inbox:
                    self._cond.wait()
                item = self._inbox.popleft()
                if isinstance(item, AudioChunk):
                    self._backlog_s = max(0.0, self._backlog_s - item.duration)
            if item is _STOP:
                return
            if item is _END:
                frames = self._run_flush()
                self._drained.set()
            elif item is _RESET:
                self._engine_reset()
                frames = []
            elif isinstance(item, tuple):
                self.engine.apply_control(*item)
                frames = []
            else:
                frames = self._run_chunk(item, True)
            if frames:
                with self._lock:
                    self._out.extend(frames)
