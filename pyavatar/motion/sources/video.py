"""The ``video`` and ``hybrid`` motion sources: face tracking from a driving video or a camera.

Both wrap :class:`pyavatar.tracking.source.VideoMotion`. The session's audio
still sets the frame clock (frames are emitted on the ``fps`` grid as the audio
reaches them, as for every source), but the face comes from video:

- **offline** (``driving=VIDEO`` or ``frames=`` (t, rgb) pairs): every video frame is tracked, in order,
  and the tracked values are interpolated linearly onto the output grid (frame ``k`` shows the driving
  motion at ``k / fps`` s; after the video's end its last frame is held). The neutral face is calibrated
  on the video's first ``calibrate_s`` seconds before frame 0, unless ``neutral=IMAGE|VIDEO`` gives one;
- **live** (``camera=INDEX|NAME`` or a :class:`~pyavatar.video.CameraCapture`): the camera is read by its
  own thread (newest frame wins); an output slot tracks the newest camera frame if a new one arrived
  (``video`` fills the next slot as soon as one is there, checked on every audio chunk, up to one slot
  ahead of the audio clock, else emits nothing for
  it and the output repeats its last frame; ``hybrid`` keeps the last tracked values), and a ``video``
  frame carries that camera frame's capture time, so the session's latency is camera frame → output
  frame.

``hybrid`` adds the ``dsp`` source for the mouth: per region, :class:`~pyavatar.tracking.hybrid.HybridMixer`
weights (``region_weights=``; live: :meth:`VideoMotionSource.set_region_weight` or the
``region_weight`` control, OSC ``/pyavatar/set/region_weight s f``) say how much comes from the video,
with the automatic lip switch both ways. Controls: ``lip_scale``, ``mute``, ``gaze``, ``head_amplitude``
and ``head_pose`` transform the output; ``hybrid`` also honours ``emotion`` and ``intensity`` (the audio
side's emotion) and ``region_weight``; ``video`` refuses them naming itself (the face shows the tracked
expression).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.face.params import NAMES, FaceParams
from pyavatar.motion.registry import UnsupportedControl
from pyavatar.motion.sources.base import refuse, visemes_of
from pyavatar.motion.sources.dsp import DspMotionSource
from pyavatar.packets import NS_PER_S, AudioChunk, MotionFrame
from pyavatar.tracking.hybrid import HybridMixer
from pyavatar.tracking.regions import check_weights
from pyavatar.tracking.source import VideoMotion
from pyavatar.tracking.tracker import TrackerSettings

_I = {n: i for i, n in enumerate(NAMES)}
_MOUTH = [_I["jaw_open"], _I["mouth_wide"], _I["mouth_round"]]
_ANGLES = [_I["head_pitch"], _I["head_yaw"], _I["head_roll"]]
_GAZE = [_I["gaze_yaw"], _I["gaze_pitch"]]
VIDEO_CONTROLS = frozenset({"lip_scale", "mute", "gaze", "head_amplitude", "head_pose"})
HYBRID_CONTROLS = VIDEO_CONTROLS | {"emotion", "intensity"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def read_frames(path: str | Path) -> list[np.ndarray]:
    """RGB frames of an image (one) or a video file (all), for calibration and references."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image or video not found: {path}")
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        from PIL import Image

        with Image.open(path) as im:
            return [np.array(im.convert("RGB"))]
    from pyavatar.video import iter_video

    return [rgb for _, rgb in iter_video(path)]


class _Tracked:
    """What the feeds return for one output time: params, face found, capture time of the camera frame."""

    __slots__ = ("params", "found", "capture_ns", "fresh", "extra")

    def __init__(
        self, params: FaceParams, found: bool, capture_ns: int, fresh: bool = True, extra: np.ndarray | None = None
    ) -> None:
        self.params, self.found, self.capture_ns, self.fresh, self.extra = params, found, capture_ns, fresh, extra


#: Per tracked frame: ``extra(rgb, mesh points or None) -> vector or None`` (e.g. keypoint motion).
Extra = Callable[[np.ndarray, "np.ndarray | None"], "np.ndarray | None"]


class FileFeed:
    """Every frame of a driving video tracked in order, interpolated onto the asked times (offline)."""

    def __init__(self, frames: Iterable[tuple[float, np.ndarray]], video: VideoMotion, calibrate: bool) -> None:
        self.video = video
        self._frames: Iterator[tuple[float, np.ndarray]] = iter(frames)
        self._ahead: list[tuple[float, np.ndarray]] = []
        self._prev: tuple[float, FaceParams, bool, np.ndarray | None] | None = None
        self._next: tuple[float, FaceParams, bool, np.ndarray | None] | None = None
        self.extra: Extra | None = None
        self._t0: float | None = None
        self.tracked = 0
        self.track_s: deque[float] = deque(maxlen=1000)  # seconds per tracked frame
        if calibrate and not video.tracker.calibrated:
            self._calibrate()

    def _calibrate(self) -> None:
        span = self.video.tracker.settings.calibrate_s
        for t, rgb in self._frames:
            self._ahead.append((t, rgb))
            if t - self._ahead[0][0] >= span:
                break
        if self._ahead:
            try:
                self.video.tracker.calibrate_frames([rgb for _, rgb in self._ahead])
            except ValueError:
                pass  # no face in the first second: the tracker calibrates once a face shows up

    def _pull(self) -> tuple[float, np.ndarray] | None:
        if self._ahead:
            return self._ahead.pop(0)
        return next(self._frames, None)

    def at(self, t: float, idle: FaceParams | None) -> _Tracked:
        """The tracked values at ``t`` seconds, interpolated between the driving frames around it."""
        while self._next is None or self._next[0] < t:
            item = self._pull()
            if item is None:
                break
            tv, rgb = item
            self._t0 = tv if self._t0 is None else self._t0
            t_start = time.perf_counter()
            tracked = self.video.tracker.process(rgb, tv - self._t0, idle=idle)
            self.track_s.append(time.perf_counter() - t_start)
            self.tracked += 1
            extra = self.extra(rgb, tracked.points) if self.extra is not None else None
            self._prev, self._next = self._next, (tv - self._t0, tracked.params, tracked.found, extra)
        if self._next is None:
            raise ValueError("driving video: no video frames")
        if self._prev is None or t >= self._next[0]:
            return _Tracked(self._next[1], self._next[2], -1, extra=self._next[3])
        t0, p0, f0, e0 = self._prev
        t1, p1, f1, e1 = self._next
        w = float(np.clip((t - t0) / max(t1 - t0, 1e-9), 0.0, 1.0))
        values = (1 - w) * p0.values[0] + w * p1.values[0]
        extra = (1 - w) * e0 + w * e1 if e0 is not None and e1 is not None else (e0 if w < 0.5 else e1)
        return _Tracked(FaceParams.from_array(values), f0 if w < 0.5 else f1, -1, extra=extra)

    def close(self) -> None:
        """Close the frame iterator."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


class CameraFeed:
    """The newest camera frame, tracked when a new one arrived (live)."""

    def __init__(self, camera: Any, video: VideoMotion, *, owned: bool, first_timeout: float = 5.0) -> None:
        self.camera, self.video, self.owned = camera, video, owned
        self.first_timeout = first_timeout
        self._last: _Tracked | None = None
        self._cam0: int | None = None
        self.extra: Extra | None = None
        self.tracked = 0
        self.track_s: deque[float] = deque(maxlen=1000)  # seconds per tracked frame

    def at(self, t: float, idle: FaceParams | None) -> _Tracked:
        """The newest camera frame, tracked if it is new (else the last tracked values, not fresh)."""
        from pyavatar.video import CameraError

        try:
            frame = self.camera.read(self.first_timeout) if self._last is None else self.camera.poll()
        except CameraError as e:  # reported like every input error (the message names the camera)
            raise ValueError(str(e)) from e
        if frame is None:
            if self._last is None:  # the camera ended before its first frame
                raise ValueError(f"camera {getattr(self.camera, 'device', '')!r} delivered no frame")
            last = self._last
            return _Tracked(last.params, last.found, last.capture_ns, fresh=False, extra=last.extra)
        self._cam0 = frame.capture_ns if self._cam0 is None else self._cam0
        t_start = time.perf_counter()
        tracked = self.video.tracker.process(frame.image, (frame.capture_ns - self._cam0) / 1e9, idle=idle)
        self.track_s.append(time.perf_counter() - t_start)
        self.tracked += 1
        extra = self.extra(frame.image, tracked.points) if self.extra is not None else None
        self._last = _Tracked(tracked.params, tracked.found, frame.capture_ns, extra=extra)
        return self._last

    def close(self) -> None:
        """Release the camera if this feed opened it."""
        if self.owned:
            self.camera.close()


class VideoMotionSource:
    """A :class:`~pyavatar.motion.registry.MotionSource` driven by face tracking (see the module docstring)."""

    def __init__(
        self, fps: float, feed: FileFeed | CameraFeed, video: VideoMotion, *, audio: DspMotionSource | None = None
    ) -> None:
        self.fps = float(fps)
        self.feed, self.video, self.audio = feed, video, audio
        self.name = "hybrid" if audio is not None else "video"
        self.controls = HYBRID_CONTROLS if audio is not None else VIDEO_CONTROLS
        self.lip_scale, self.muted, self.head_amplitude = 1.0, False, 1.0
        self.gaze: tuple[float, float] | None = None
        self.head_pose: tuple[float, float, float] | None = None
        self._origin: int | None = None  # session time of frame index 0
        self._grid: int | None = None  # stream start (frames are on origin's grid from here)
        self._next = 0
        self._end = 0
        self._live = False
        self._closed = False
        self._lock = threading.Lock()  # close() (session stop, another thread) waits for the frame in progress

    @property
    def latency_s(self) -> float:
        """No look-ahead for video; the audio side's in hybrid mode."""
        return self.audio.latency_s if self.audio is not None else 0.0

    def stats(self) -> dict[str, Any]:
        """Latency, video frames tracked, tracking ms per frame and, on a camera, frames read and never seen."""
        stats: dict[str, Any] = {
            "source": self.name,
            "latency_ms": self.latency_s * 1e3,
            "video_frames_tracked": self.feed.tracked,
        }
        if self.feed.track_s:
            ms = np.asarray(self.feed.track_s) * 1e3
            stats["track_ms"] = {
                "p50": float(np.percentile(ms, 50)),
                "p95": float(np.percentile(ms, 95)),
                "max": float(ms.max()),
            }
        if isinstance(self.feed, CameraFeed):
            stats["camera_frames"] = getattr(self.feed.camera, "frames_read", 0)
            stats["camera_dropped"] = getattr(self.feed.camera, "dropped", 0)
        return stats

    def set_region_weight(self, region: str, weight: float) -> None:
        """Hybrid: the video share (0..1) of ``region`` (head, eyes, brows, mouth, expression) from the next frame."""
        if self.video.hybrid is None:
            raise ValueError("motion source 'video' has no region weights (use the hybrid source)")
        self.video.hybrid.set_weight(region, weight)

    # ------------------------------------------------------------------ control

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """UnsupportedControl naming the source for a control it cannot honour; ValueError for an unknown region."""
        if name == "region_weight":
            if self.video.hybrid is None:
                raise UnsupportedControl(
                    f"motion source {self.name!r} has no region weights (the whole face follows the video); "
                    "use the hybrid source (--motion hybrid)"
                )
            check_weights({values["region"]: values["weight"]})
            return
        if name not in self.controls:
            raise refuse(self.name, name, self.controls)
        if name in ("emotion", "intensity") and self.audio is not None:
            self.audio.check_control(name, values)

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a control from the next frame."""
        self.check_control(name, values)
        if name in ("emotion", "intensity"):
            assert self.audio is not None
            self.audio.apply_control(name, values)
        elif name == "region_weight":
            self.set_region_weight(values["region"], values["weight"])
        elif name == "lip_scale":
            self.lip_scale = float(values["scale"])
        elif name == "mute":
            self.muted = bool(values["muted"])
        elif name == "gaze":
            self.gaze = None if values["yaw"] is None else (float(values["yaw"]), float(values["pitch"]))
        elif name == "head_amplitude":
            self.head_amplitude = float(values["amplitude"])
        elif name == "head_pose":
            pose = (values["pitch"], values["yaw"], values["roll"])
            self.head_pose = None if pose[0] is None else tuple(float(v) for v in pose)  # type: ignore[assignment]

    def jump_emotion(self) -> None:
        """Show the audio side's starting emotion at once (hybrid)."""
        if self.audio is not None:
            self.audio.jump_emotion()

    # ---------------------------------------------------------------- streaming

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Frames whose slot ``chunk`` completes (hybrid: the frames the audio side completes); none once closed."""
        with self._lock:
            return [] if self._closed else self._process(chunk, live)

    def _process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        self._live = live
        if self._origin is None:
            self._origin = chunk.pts_ns
        if self.audio is not None:
            return [self._mixed(f) for f in self.audio.process(chunk, live)]
        if self._grid is None:
            self._grid = chunk.pts_ns
            self._next = max(self._next, math.ceil((chunk.pts_ns - self._origin) * self.fps / NS_PER_S - 1e-6))
        self._end = chunk.end_pts_ns
        return self._slots(final=False)

    def flush(self) -> list[MotionFrame]:
        """The tail: hybrid, the audio side's last frames; video, a last frame for a partly covered slot."""
        with self._lock:
            return [] if self._closed else self._flush()

    def _flush(self) -> list[MotionFrame]:
        if self.audio is not None:
            return [self._mixed(f) for f in self.audio.flush()]
        frames = self._slots(final=True) if self._grid is not None else []
        self.reset()
        return frames

    def reset(self) -> None:
        """A new stream (after a gap): the grid restarts at the next chunk; tracking carries on."""
        self._grid = None
        if self.audio is not None:
            self.audio.reset()

    def _pts(self, k: int) -> int:
        assert self._origin is not None
        return self._origin + round(k * NS_PER_S / self.fps)

    def _slots(self, final: bool) -> list[MotionFrame]:
        """Frames of the slots the audio clock has reached.

        Live on a camera, a slot is filled as soon as a new camera frame is there
        once the slot before it has begun (a camera frame waits one audio chunk,
        not for a slot's start or end: camera and output clocks drift against each
        other, and a frame that just missed its slot would otherwise wait up to a
        frame period for the next one to begin); a slot that ends without one emits
        nothing (the output repeats). The output pacer shows a camera frame by its
        capture time, so a slot's pts does not time it.
        """
        early = self._live and isinstance(self.feed, CameraFeed)
        out = []
        while True:
            k = self._next
            start, end = self._pts(k), self._pts(k + 1)
            complete = end <= self._end or (final and start < self._end)
            if not complete and not (early and self._pts(k - 1) < self._end):
                return out
            frame = self._frame(k, start, None, 0.0, "neutral", 0.0)
            if frame is None and not complete:
                return out  # no new camera frame yet: the rest of the slot may bring one
            self._next += 1
            if frame is not None:
                out.append(frame)

    def _mixed(self, frame: MotionFrame) -> MotionFrame:
        audio = FaceParams(frame.params[None])
        mixed = self._frame(
            frame.index, frame.pts_ns, audio, frame.speaking, frame.emotion, frame.intensity, capture=frame.capture_ns
        )
        assert mixed is not None  # hybrid frames always come (the audio clocks them)
        return mixed

    def _frame(
        self,
        index: int,
        pts: int,
        audio: FaceParams | None,
        speaking: float,
        emotion: str,
        intensity: float,
        capture: int | None = None,
    ) -> MotionFrame | None:
        """The frame of slot ``index``; None live on a camera when no new camera frame came (the output repeats)."""
        assert self._origin is not None
        t = (pts - self._origin) / NS_PER_S
        got = self.feed.at(t, audio)
        if audio is None and self._live and not got.fresh:
            return None
        params = self.video.mix(got.params, t, audio=audio, speaking=speaking, found=got.found)
        values = self._transformed(params.values[0].astype(np.float32))
        if capture is None:
            capture = (
                got.capture_ns
                if self._live and got.capture_ns >= 0
                else (pts + round(0.5 * NS_PER_S / self.fps) if self._live else -1)
            )
        visemes = visemes_of(values[None])[0]
        kp, ref = self._keypoints(got.extra)
        return MotionFrame(index, pts, self.fps, capture, values, visemes, speaking, emotion, intensity, kp, ref)

    def _keypoints(self, extra: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Keypoint motion and its reference for a frame (none here; see ``video_keypoints``)."""
        return None, None

    def _transformed(self, values: np.ndarray) -> np.ndarray:
        if self.muted or self.lip_scale != 1.0:
            values[_MOUTH] = 0.0 if self.muted else np.clip(values[_MOUTH] * self.lip_scale, 0.0, 1.0)
        if self.gaze is not None:
            values[_GAZE] = self.gaze
        if self.head_amplitude != 1.0 or self.head_pose is not None:
            center = np.asarray(self.head_pose if self.head_pose is not None else (0.0, 0.0, 0.0), np.float32)
            values[_ANGLES] = center + self.head_amplitude * values[_ANGLES]
        return values

    def close(self) -> None:
        """Release the camera (when the source opened it) and the tracker."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.feed.close()
                self.video.close()


def _feed(video: VideoMotion, driving: str | Path | None, camera: Any, frames: Any) -> FileFeed | CameraFeed:
    given = [name for name, v in (("driving", driving), ("camera", camera), ("frames", frames)) if v is not None]
    if len(given) != 1:
        raise ValueError(
            "motion sources 'video' and 'hybrid' need exactly one video input: driving=VIDEO "
            f"(--driving), camera=INDEX|NAME (--camera) or frames=; got {given or 'none'}"
        )
    if camera is not None:
        if isinstance(camera, (int, str)):
            from pyavatar.video import CameraCapture, CameraError

            try:
                return CameraFeed(CameraCapture(camera), video, owned=True)
            except CameraError as e:  # a user error: the message lists the cameras there are
                raise ValueError(str(e)) from None
        return CameraFeed(camera, video, owned=False)
    if driving is not None:
        from pyavatar.video import iter_video, probe_video

        probe_video(driving)  # a missing or unreadable file fails here, before any audio
        frames = iter_video(driving)
    return FileFeed(frames, video, calibrate=video.tracker.geometry is None)


def _video_motion(
    settings: TrackerSettings | None, neutral: str | Path | None, hybrid: HybridMixer | None
) -> VideoMotion:
    video = VideoMotion(settings, hybrid=hybrid)
    if neutral is not None:
        try:
            video.tracker.calibrate_frames(read_frames(neutral))
        except ValueError as e:
            video.close()
            raise ValueError(f"{neutral}: {e}") from None
    return video


def video_from_options(
    *,
    fps: float,
    seed: int = 0,
    driving: str | Path | None = None,
    camera: Any = None,
    frames: Iterable[tuple[float, np.ndarray]] | None = None,
    neutral: str | Path | None = None,
    tracker: TrackerSettings | None = None,
) -> VideoMotionSource:
    """The registry's ``video`` factory (``seed`` is unused: tracking is deterministic)."""
    video = _video_motion(tracker, neutral, None)
    try:
        return VideoMotionSource(fps, _feed(video, driving, camera, frames), video)
    except BaseException:
        video.close()
        raise


def hybrid_from_options(
    *,
    fps: float,
    seed: int = 0,
    driving: str | Path | None = None,
    camera: Any = None,
    frames: Iterable[tuple[float, np.ndarray]] | None = None,
    neutral: str | Path | None = None,
    tracker: TrackerSettings | None = None,
    region_weights: dict[str, float] | None = None,
    fallback: bool = True,
    profile: Any = None,
    lip_settings: Any = None,
) -> VideoMotionSource:
    """The registry's ``hybrid`` factory: ``dsp`` lips (``profile``, ``lip_settings``, ``seed``) + tracked face."""
    video = _video_motion(tracker, neutral, HybridMixer(region_weights, fallback=fallback))
    try:
        audio = DspMotionSource(fps, seed=seed, profile=profile, lip_settings=lip_settings)
        return VideoMotionSource(fps, _feed(video, driving, camera, frames), video, audio=audio)
    except BaseException:
        video.close()
        raise
