"""The SDK: :class:`Avatar` (a prepared portrait) and :class:`Session` (audio in, frames and parameters out).

The same session objects run offline (``feed_audio`` / ``render_file`` /
``frames(audio)``: synchronous, every frame rendered in order) and live
(``start``: microphone, a file played in real time, or audio pushed with
``feed_audio``; paced output with drops and repeats counted)::

    avatar = Avatar.from_image("portrait.jpg")
    with avatar.session(fps=30, outputs=[VmcSender()]) as s:
        s.start(mic=None)            # default microphone
        s.set_emotion("happy", 0.6)
        for frame in s.frames():     # paced frames (newest kept if you fall behind)
            show(frame.image)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk, MotionFrame
from pyavatar.render.base import FaceRenderer, face_point_options
from pyavatar.render.images import load_rgba
from pyavatar.render.registry import make_renderer, renderer_names
from pyavatar.runtime import control as ctl
from pyavatar.runtime.clock import Clock, MonotonicClock
from pyavatar.runtime.frames import VideoFrame
from pyavatar.runtime.pipeline import Pipeline, PipelineError
from pyavatar.runtime.sinks import MotionSink, VideoSink
from pyavatar.sdk.motion import make_motion_stage
from pyavatar.sdk.render import RenderResult, render_file
from pyavatar.sdk.sources import LiveAudio, paced
from pyavatar.sdk.stage import PortraitStage, PreparedRenderer
from pyavatar.sdk.swap import MIN_SWAP_INTERVAL_S, RendererSwapper

log = logging.getLogger(__name__)


def prepare(
    image: np.ndarray,
    renderer: str | FaceRenderer | None = None,
    *,
    crop: tuple[float, float, float, float] | None = None,
    face_index: int = 0,
    face_points: Any = None,
    **options: Any,
) -> PreparedRenderer:
    """``renderer`` (registry name, ``"module:Factory"`` or object; options only with a name) prepared for ``image``."""
    if renderer is None or isinstance(renderer, str):
        renderer = make_renderer(renderer, **options)
    elif options:
        raise ValueError("renderer options are only used with a renderer name")
    where = face_point_options(renderer, face_points)
    return PreparedRenderer(renderer, renderer.prepare(image, crop=crop, face_index=face_index, **where))


class Avatar:
    """A portrait prepared for one renderer. Build it with :meth:`from_image`."""

    def __init__(
        self,
        image: np.ndarray,
        alpha: np.ndarray | None,
        prepared: PreparedRenderer,
        *,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
        face_points: Any = None,
    ) -> None:
        self.image = image
        self.alpha = alpha
        self.prepared = prepared
        self.crop = crop
        self.face_index = face_index
        self.face_points = face_points

    @classmethod
    def from_image(
        cls,
        image: str | Path | np.ndarray,
        *,
        renderer: str | FaceRenderer | None = None,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
        face_points: Any = None,
        **renderer_options: Any,
    ) -> Avatar:
        """Load ``image`` (path or uint8 array, RGBA keeps its alpha) and prepare it for ``renderer``.

        Args:
            image: a portrait file or an RGB/RGBA uint8 array (working side at most 2048 pixels).
            renderer: a registry name (default ``"classical"``), ``"module:Factory"``, or a FaceRenderer.
            crop: (x, y, w, h) face box that skips face detection.
            face_index: which face to animate when there are several.
            face_points: ((lx, ly), (rx, ry), (mx, my)) eyes and mouth centre: pins the classical
                renderer's face template (animals, drawings no detector finds).
            renderer_options: keyword arguments for the renderer factory (names only).
        """
        rgb, alpha = load_rgba(image)
        prepared = prepare(rgb, renderer, crop=crop, face_index=face_index, face_points=face_points, **renderer_options)
        return cls(rgb, alpha, prepared, crop=crop, face_index=face_index, face_points=face_points)

    def prepare_renderer(self, renderer: str | FaceRenderer | None = None, **options: Any) -> PreparedRenderer:
        """``renderer`` (name, ``"module:Factory"`` or object) prepared for this portrait."""
        return prepare(
            self.image, renderer, crop=self.crop, face_index=self.face_index, face_points=self.face_points, **options
        )

    @property
    def renderer(self) -> FaceRenderer:
        """The renderer the portrait was prepared for."""
        return self.prepared.renderer

    def session(self, **options: Any) -> Session:
        """A new :class:`Session` on this avatar (options: see :class:`Session`)."""
        return Session(self, **options)

    def render(self, audio: str | Path, output: str | Path, **options: Any) -> RenderResult:
        """Render ``audio`` to ``output`` (video file or PNG folder); see :func:`pyavatar.sdk.render.render_file`."""
        return render_file(self, audio, output, **options)


class Session:
    """One stream of audio through motion and rendering to outputs.

    Args:
        avatar: the prepared portrait.
        fps: output frame rate (25, 30, 60, ...).
        motion_fps: motion rate (default ``fps``; lower rates are interpolated up to ``fps``).
        outputs: sinks (virtual camera, VMC/OSC senders, files, callbacks).
        emotion, intensity, lip_scale, head_amplitude, gaze: starting controls (a source that cannot honour
            one raises ValueError naming the source).
        motion: motion source: a registered name (``dsp`` default, ``diffusion``, ``joyvasa``; see
            :mod:`pyavatar.motion.registry`) or a MotionSource object.
        motion_options: options of a named source (``weights``, ``template``, ``hubert_dir``, ``steps``,
            ``cfg``, ...); weights are loaded and checked here, before any audio.
        profile: vowel profile (object or path from ``pyavatar calibrate``; dsp).
        lip_settings: noise gate and smoothing (:class:`pyavatar.motion.lips.LipSettings`; dsp).
        seed: motion seed (dsp idle motion, learned sources' sampling noise).
        delay_ms: live playout delay (default adaptive).
        clock: time source (tests).
    """

    def __init__(
        self,
        avatar: Avatar,
        *,
        fps: float = 30.0,
        motion_fps: float | None = None,
        outputs: Sequence[Any] = (),
        emotion: str = "neutral",
        intensity: float = 1.0,
        lip_scale: float = 1.0,
        profile: Any = None,
        lip_settings: Any = None,
        seed: int = 0,
        delay_ms: float | None = None,
        clock: Clock | None = None,
        motion: Any = "dsp",
        motion_options: dict[str, Any] | None = None,
        head_amplitude: float = 1.0,
        gaze: tuple[float, float] | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.avatar = avatar
        self.fps = float(fps)
        self.clock = clock or MonotonicClock()
        self.motion = make_motion_stage(
            avatar.prepared,
            motion,
            fps=motion_fps or fps,
            seed=seed,
            emotion=emotion,
            intensity=intensity,
            lip_scale=lip_scale,
            head_amplitude=head_amplitude,
            gaze=gaze,
            profile=profile,
            lip_settings=lip_settings,
            **(motion_options or {}),
        )
        self.stage = PortraitStage(avatar.prepared, avatar.alpha)
        self.pipeline = Pipeline(self.motion, self.stage, fps=self.fps, clock=self.clock, delay_ms=delay_ms)
        self._queue: Any = None
        self._live_audio: LiveAudio | None = None
        self._stop_source = threading.Event()
        self._control: Any = None
        self._swapper: RendererSwapper | None = None
        self._mic: Any = None
        self.swap_interval_s = MIN_SWAP_INTERVAL_S
        self._offline_samples = 0
        self._offline_rate = 0
        for sink in outputs:
            self.add_output(sink)

    # ---------------------------------------------------------------- outputs

    @property
    def width(self) -> int:
        """Frame width."""
        return self.stage.width

    @property
    def height(self) -> int:
        """Frame height."""
        return self.stage.height

    def add_output(self, sink: VideoSink | MotionSink) -> None:
        """Add a video sink (``write_video``) and/or motion sink (``write_motion``) before the stream starts.

        See :mod:`pyavatar.runtime.sinks`; anything else raises TypeError.
        """
        if self.pipeline.state != "new":
            raise PipelineError("add outputs before the session starts")
        self.pipeline.add_sink(sink)

    def on_frame(self, fn: Callable[[VideoFrame], object]) -> None:
        """Call ``fn(frame)`` for every output frame (in the output thread when live)."""
        from pyavatar.outputs.callback import CallbackSink

        self.add_output(CallbackSink(fn))

    def on_motion(self, fn: Callable[[MotionFrame], object]) -> None:
        """Call ``fn(motion)`` for every motion frame (face parameters, visemes, emotion)."""
        from pyavatar.outputs.callback import MotionCallbackSink

        self.add_output(MotionCallbackSink(fn))

    # --------------------------------------------------------------- controls

    def send(self, event: ctl.ControlEvent) -> None:
        """Apply a control event from the next frame (ValueError when invalid)."""
        if isinstance(event, ctl.SwapRenderer) and not isinstance(event.renderer, PreparedRenderer):
            event = ctl.SwapRenderer(self.avatar.prepare_renderer(event.renderer, **dict(event.options)))
        self.pipeline.send(event)

    def set_emotion(self, name: str, intensity: float = 1.0, upper: str | None = None) -> None:
        """Aim at emotion ``name`` (neutral, happy, sad, angry, surprised, relaxed); ``upper`` for brows/eyes."""
        self.send(ctl.SetEmotion(name, intensity, upper))

    def set_intensity(self, intensity: float) -> None:
        """Intensity of the current emotion (0..1)."""
        self.send(ctl.SetIntensity(intensity))

    def set_lip_scale(self, scale: float) -> None:
        """Mouth opening gain (0..3)."""
        self.send(ctl.SetLipScale(scale))

    def set_gaze(self, yaw: float | None, pitch: float | None = 0.0) -> None:
        """Hold the eyes at ``yaw``/``pitch`` degrees; ``set_gaze(None, None)`` returns to idle gaze."""
        self.send(ctl.SetGaze(yaw, pitch))

    def set_mute(self, muted: bool) -> None:
        """Keep the mouth closed whatever the audio (True) or follow the audio (False)."""
        self.send(ctl.SetMute(muted))

    def set_head_amplitude(self, amplitude: float) -> None:
        """Scale head motion around the reference pose (0..3)."""
        self.send(ctl.SetHeadAmplitude(amplitude))

    def set_head_pose(self, pitch: float | None, yaw: float | None = 0.0, roll: float | None = 0.0) -> None:
        """Hold the head around ``pitch``/``yaw``/``roll`` degrees; ``set_head_pose(None, None, None)`` releases."""
        self.send(ctl.SetHeadPose(pitch, yaw, roll))

    def set_renderer(self, renderer: str | FaceRenderer, **options: Any) -> None:
        """Render with another renderer from the next frame (prepared now, in the caller's thread)."""
        self.send(ctl.SwapRenderer(self.avatar.prepare_renderer(renderer, **options)))

    def pause(self) -> None:
        """Live: hold the current frame and ignore incoming audio."""
        self.send(ctl.Pause(True))

    def resume(self) -> None:
        """Live: follow the audio again."""
        self.send(ctl.Pause(False))

    def flush(self) -> None:
        """Discard queued audio and frames."""
        self.send(ctl.Flush())

    def stats(self) -> dict[str, Any]:
        """Latency (p50/p95/max ms), fps in/out, drops, repeats, per-stage times and counters."""
        s = self.pipeline.stats()
        s["motion"] = self.motion.stats()
        if self._live_audio is not None:
            s["pushed_audio_dropped"] = self._live_audio.dropped
        if self._control is not None:
            s["control"] = {
                "received": self._control.received,
                "applied": self._control.applied,
                "malformed": self._control.malformed,
            }
        if self._swapper is not None:
            s["renderer_swaps"] = self._swapper.stats()
        if self._mic is not None:
            st = self._mic.stats
            s["mic"] = {
                "device": self._mic.name,
                "route": list(self._mic.route or ()),
                "device_changes": st.device_changes,
                "overflows": st.overflows,
                "dropped": st.dropped,
            }
        return s

    # ---------------------------------------------------------------- offline

    def feed_audio(self, samples: np.ndarray, sample_rate: int) -> list[VideoFrame]:
        """Audio in: live, queued for the pipeline (returns []); offline, processed now (returns its frames)."""
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"feed_audio: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        if self.pipeline.state == "live":
            if self._live_audio is None:
                raise PipelineError("this live session reads its own source; feed_audio needs start() without one")
            self._live_audio.push(samples, sample_rate)
            return []
        if self.pipeline.state == "new":
            self.pipeline.open()
        if self._offline_rate and sample_rate != self._offline_rate:
            raise ValueError(f"feed_audio: the stream is {self._offline_rate} Hz, got {sample_rate} Hz")
        self._offline_rate = sample_rate
        from pyavatar.audio.sources import to_mono

        mono = np.clip(np.nan_to_num(to_mono(samples, None, "fed audio")), -1.0, 1.0).astype(np.float32)
        chunk = AudioChunk(self._offline_samples * NS_PER_S // sample_rate, sample_rate, mono)
        self._offline_samples += len(mono)
        return self.pipeline.process(chunk)

    def end_audio(self) -> list[VideoFrame]:
        """End of the audio: offline, the last frames (and the outputs are closed); live, the stream drains."""
        if self.pipeline.state == "live":
            if self._live_audio is not None:
                self._live_audio.end()
            return []
        if self.pipeline.state != "offline":
            raise PipelineError(f"end_audio(): session is {self.pipeline.state}")
        frames = self.pipeline.finish()
        self.pipeline.close()
        return frames

    def render_file(
        self, audio: str | Path | Iterable[AudioChunk], progress: Callable[[float], None] | None = None
    ) -> int:
        """Offline: the whole file (or chunk stream) through every output; returns the frame count."""
        return self.pipeline.run(_chunks(audio), progress)

    def frames(self, audio: str | Path | Iterable[AudioChunk] | None = None) -> Iterator[VideoFrame]:
        """Offline with ``audio``: its frames as they are rendered. Live: the paced output frames until the end."""
        if audio is not None:
            self.pipeline.open()
            try:
                for chunk in _chunks(audio):
                    yield from self.pipeline.process(chunk)
                yield from self.pipeline.finish()
            except BaseException:  # a failure, or the consumer stopped early: file outputs are discarded
                try:
                    self.pipeline.close(failed=True)
                except Exception as e:
                    log.error("closing the outputs after a failure: %r", e)
                raise
            self.pipeline.close()
            return
        if self._queue is None:
            raise PipelineError("frames(): start the live session first, or pass audio for offline frames")
        while True:  # until the stream ends (Stop, stop(), end of the source), then the frames already produced
            ended = not self.pipeline.running
            try:
                frame = self._queue.get(timeout=0.0 if ended else 0.1)
            except TimeoutError:
                if ended:
                    return
                continue
            if frame is None:
                return
            yield frame

    # ------------------------------------------------------------------- live

    def start(
        self,
        source: Iterable[AudioChunk] | None = None,
        *,
        mic: int | str | bool | None = False,
        file: str | Path | None = None,
        sample_rate: int = 16_000,
        control: str | int | None = None,
    ) -> None:
        """Go live.

        Args:
            source: chunks stamped on the session clock (e.g. a :class:`~pyavatar.audio.mic.MicSource`).
            mic: capture from a microphone: index, name substring, or None for the default device.
            file: play this audio file in real time as if it were a microphone.
            sample_rate: rate of audio given to :meth:`feed_audio` (when no source is given).
            control: accept ``/pyavatar/set/*`` OSC messages on ``"host:port"`` or a port (127.0.0.1).
        """
        from pyavatar.outputs.callback import FrameQueue

        given = sum(x is not None and x is not False for x in (source, file)) + (mic is not False)
        if given > 1:
            raise ValueError("start(): give at most one of source, mic and file")
        close: Callable[[], None] | None = None
        if mic is not False:
            from pyavatar.audio.mic import MicSource

            src = MicSource(None if mic is True else mic)
            source, close = src, src.close
            self._mic = src
        elif file is not None:
            from pyavatar.audio.sources import FileSource

            source, close = paced(FileSource(file), self.clock, stop=self._stop_source), self._stop_source.set
        elif source is None:
            self._live_audio = LiveAudio(sample_rate, clock=self.clock)
            source, close = self._live_audio, self._live_audio.end
        elif hasattr(source, "close"):
            close = source.close  # type: ignore[union-attr]
        self._queue = FrameQueue(4)
        self.add_output(self._queue)
        if control is not None:
            from pyavatar.outputs.control_server import DEFAULT_PORT, ControlServer
            from pyavatar.outputs.osc import parse_target

            host, port = (
                parse_target(str(control), DEFAULT_PORT) if isinstance(control, str) else ("127.0.0.1", control)
            )
            self._control = ControlServer(self._control_handler, host, port)
            self._control.start()
        try:
            self.pipeline.start(source, close_source=close)
        except BaseException:
            if self._control is not None:
                self._control.close()
            if close is not None:
                close()
            raise

    def _control_handler(self, event: ctl.ControlEvent) -> None:
        """Events from the network: renderers by registered name only, prepared off the control thread."""
        if isinstance(event, ctl.SwapRenderer):
            name = event.renderer
            if not isinstance(name, str) or event.options or name not in renderer_names():
                raise ValueError(f"renderer {name!r} is not registered; choose from {sorted(renderer_names())}")
            self._renderer_swapper().request(name)
            return
        try:
            self.send(event)
        except ValueError:
            raise
        except Exception as e:  # a stopped session: reject the message
            raise ValueError(f"{type(e).__name__}: {e}") from e

    def _renderer_swapper(self) -> RendererSwapper:
        if self._swapper is None:
            self._swapper = RendererSwapper(
                self.avatar.prepare_renderer,
                lambda p: self.pipeline.send(ctl.SwapRenderer(p)),
                min_interval_s=self.swap_interval_s,
            )
        return self._swapper

    def request_renderer(self, name: str) -> None:
        """Swap to registered renderer ``name`` soon, prepared in the background (newest request wins).

        Unlike :meth:`set_renderer` this returns at once; progress is in ``stats()["renderer_swaps"]``.
        """
        if name not in renderer_names():
            raise ValueError(f"renderer {name!r} is not registered; choose from {sorted(renderer_names())}")
        self._renderer_swapper().request(name)

    @property
    def control_address(self) -> tuple[str, int] | None:
        """Where the control server listens (None without one)."""
        return self._control.address if self._control is not None else None

    def wait(self, timeout: float | None = None) -> bool:
        """Live: until a stop request, the end of a finite source, or a failure; False on timeout."""
        return self.pipeline.wait(timeout)

    def stop(self) -> None:
        """Stop everything (threads, devices, sockets, background renderer preparation); idempotent.

        Stopping is a normal event and raises nothing of its own; it re-raises the
        first failure of a pipeline thread or an output (e.g. a sink that failed).
        """
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._swapper is not None:
            self._swapper.close()
            self._swapper = None
        self.motion.close()  # a learned source's worker first: the motion thread may wait on it
        self.pipeline.stop()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.stop()
            return
        try:
            self.stop()
        except BaseException as e:  # the body's exception wins; this one is logged
            log.error("stopping the session after %r: %r", exc, e)


def _chunks(audio: str | Path | Iterable[AudioChunk]) -> Iterable[AudioChunk]:
    if isinstance(audio, (str, Path)):
        from pyavatar.audio.sources import FileSource

        return FileSource(audio)
    return audio
