"""``pyavatar bench live``: capture→output latency of the live pipeline with a known signal.

A known signal (cycles of silence and a speech snippet from the bundled demo
speech) is played into the live pipeline in real time, in 10 ms blocks stamped
like a microphone's. Every output frame is recorded at the moment the output
stage hands it to the sinks (a virtual camera on a null backend by default).

Keys: ``p50_ms``, ``p95_ms``, ``max_ms`` (per new frame: output time minus the
capture time of the audio at the frame's centre), ``drops``, ``repeats``,
``fps_out``, plus ``onset_ms`` (from the capture of each speech onset to the
first output frame whose mouth is open, lip-engine response included) and
per-stage times. ``--motion dsp,diffusion`` runs each motion source in turn
on the same signal (diffusion: a seeded model at the bundled size, FaceParams
space) and adds ``first_frame_ms`` (first audio captured → first frame out),
``rtf`` and the source's statistics (latency, per-window time) per source.

``--motion video``: a camera instead of a microphone. A known motion sequence
(:func:`pyavatar.tracking.roundtrip.known_sequence`) is rendered by the
classical renderer on the astronaut portrait, written to a video file and
played in real time through the video-file-backed capture device
(:class:`~pyavatar.video.CameraCapture` on a
:class:`~pyavatar.video.VideoFileDevice`, its own thread, newest frame wins);
the ``video`` source tracks each new camera frame and the session has no
audio (:class:`~pyavatar.sdk.video.SilentClock`). Latency is camera frame
captured → output frame; the source adds tracking ms per frame and the camera
frames read and never seen.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from pyavatar.packets import AudioChunk

DESCRIPTION = "live pipeline latency (capture→output), fps, drops and repeats with a known signal"
SILENCE_S, SPEECH_S = 0.6, 0.8
ONSET_JAW = 0.15


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``pyavatar bench live``."""
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the run (default: 60)")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default: 30)")
    p.add_argument("--renderer", default="classical", help="renderer name or module:Factory (default: classical)")
    p.add_argument("--size", type=int, default=512, help="portrait side in pixels (default: 512)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and the C++ kernels (default: 2)")
    p.add_argument(
        "--camera",
        default="null",
        help="virtual camera backend for the output ('null' = in-process sink, 'none' = no camera)",
    )
    p.add_argument("--delay-ms", type=float, default=None, help="fixed playout delay (default: adaptive)")
    p.add_argument(
        "--motion", default="dsp", help="motion sources to run in turn: dsp, diffusion, video (default: dsp)"
    )


class _NullCamera:
    """A pyvirtualcam backend that accepts frames and discards them."""

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self._size = width * height * 3

    def send(self, frame: np.ndarray) -> None:
        if frame.size != self._size:
            raise ValueError(f"null camera: frame of {frame.size} bytes, expected {self._size}")

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "null"

    def native_fourcc(self) -> None:
        return None


def known_signal(seconds: float) -> tuple[np.ndarray, int, list[float]]:
    """(samples, rate, onset times in seconds): cycles of silence and the first speech of the demo file."""
    import soundfile as sf

    from pyavatar.assets import DEMO_SPEECH

    speech, rate = sf.read(DEMO_SPEECH, dtype="float32")
    level = np.abs(speech) > 10 ** (-30 / 20)
    start = int(np.argmax(level))
    snippet = speech[start : start + round(SPEECH_S * rate)]
    cycle = np.concatenate([np.zeros(round(SILENCE_S * rate), np.float32), snippet])
    reps = max(1, int(np.ceil(seconds * rate / len(cycle))))
    onsets = [(i * len(cycle) + round(SILENCE_S * rate)) / rate for i in range(reps)]
    return np.tile(cycle, reps)[: round(seconds * rate)], rate, [t for t in onsets if t < seconds - 0.2]


def _motion(name: str) -> tuple[str, dict[str, Any]]:
    """Session options for one benchmarked motion source."""
    if name == "dsp":
        return "dsp", {}
    if name == "diffusion":
        from pyavatar.motion.diffusion import MotionModelConfig, random_model

        return "diffusion", {"model": random_model(MotionModelConfig(space="face_params"), seed=0)}
    raise ValueError(f"bench live: --motion takes dsp, diffusion and video (no weights needed), got {name!r}")


def camera_clip(path: Any, seconds: float, fps: float, size: int = 384) -> Any:
    """A video file of a known motion sequence rendered on the astronaut (the bench's camera)."""
    from skimage import data

    from pyavatar.render.classical.renderer import ClassicalRenderer
    from pyavatar.tracking.roundtrip import known_sequence
    from pyavatar.video import write_video

    known = known_sequence(round(fps * seconds), fps, lead=0, seed=7)
    renderer = ClassicalRenderer(output="crop", crop_size=size)
    return write_video(path, renderer.render_params(renderer.prepare(data.astronaut()), known), fps)


def run(args: argparse.Namespace) -> int:
    """Run every ``--motion`` source in turn and print / write its figures; returns the exit status."""
    from PIL import Image

    from pyavatar.assets import DEMO_PORTRAIT
    from pyavatar.bench.timing import set_threads, write_json
    from pyavatar.sdk import Avatar

    set_threads(args.threads)
    image = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB").resize((args.size, args.size), Image.BICUBIC))
    avatar = Avatar.from_image(image, renderer=args.renderer)
    names = [n.strip() for n in args.motion.split(",") if n.strip()]
    runs = {name: _run_one(args, avatar, name) for name in names}
    result = {
        "suite": "live",
        "runs": runs,
        "config": {
            "renderer": avatar.renderer.name,
            "size": args.size,
            "fps": args.fps,
            "threads": args.threads,
            "seconds": args.seconds,
            "camera": args.camera,
            "delay_ms": args.delay_ms,
            "motion": names,
            "audio_block_ms": 10.0,
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "command": f"pyavatar bench live --seconds {args.seconds:g} --fps {args.fps:g} --renderer {args.renderer} "
        f"--size {args.size} --threads {args.threads} --camera {args.camera} --motion {args.motion}",
    }
    write_json(args.json, result if len(names) > 1 else {**runs[names[0]], **result})
    return 0


def _run_one(args: argparse.Namespace, avatar: Any, motion: str) -> dict[str, Any]:
    from pyavatar.audio.sources import ArraySource
    from pyavatar.face.params import NAMES
    from pyavatar.sdk import paced

    outputs: list[Any] = []
    if args.camera != "none":
        try:
            import pyvirtualcam
        except ImportError as e:
            raise RuntimeError(
                f"--camera {args.camera} needs pyvirtualcam (pip install 'pyavatar[webcam]') or use --camera none"
            ) from e

        from pyavatar.outputs.virtualcam import VirtualCamSink

        if args.camera == "null":
            pyvirtualcam.register_backend("null", _NullCamera)
        outputs.append(VirtualCamSink(backend=args.camera))
    if motion == "video":
        return _run_video(args, avatar, outputs)
    source, options = _motion(motion)
    session = avatar.session(
        fps=args.fps, outputs=outputs, delay_ms=args.delay_ms, motion=source, motion_options=options
    )
    shown: list[tuple[int, int, float, bool]] = []  # (emit time, capture time, jaw, repeat)
    jaw_i = NAMES.index("jaw_open")
    session.on_frame(
        lambda f: shown.append((time.monotonic_ns(), f.capture_ns, float(f.motion.params[jaw_i]), f.repeat))
    )
    signal, rate, onsets = known_signal(args.seconds)
    print(
        f"bench live: {motion} motion, {avatar.renderer.name} renderer {args.size}x{args.size}, {args.fps:g} fps, "
        f"{args.threads} threads, {args.seconds:g} s of signal ({len(onsets)} speech onsets)",
        flush=True,
    )
    first_pts: list[int] = []

    def tap(chunks: Iterator[AudioChunk]) -> Iterator[AudioChunk]:
        for c in chunks:
            if not first_pts:
                first_pts.append(c.pts_ns)
            yield c

    session.start(tap(paced(ArraySource(signal, rate, chunk_ms=10.0))))
    session.wait(args.seconds + 30.0)
    stats = session.stats()
    session.stop()
    # onset latency: capture time of each onset → the first output frame with an open mouth
    onset_ms = []
    for t in onsets:
        cap = first_pts[0] + round(t * 1e9)
        after = [emit for emit, c, jaw, rep in shown if c >= cap - 50_000_000 and jaw >= ONSET_JAW]
        if after:
            onset_ms.append((after[0] - cap) / 1e6)
    first_out = next((emit for emit, c, _, _ in shown if c >= 0), None)
    src = stats["motion"]
    result = {
        "motion": motion,
        "p50_ms": stats["p50_ms"],
        "p95_ms": stats["p95_ms"],
        "max_ms": stats["max_ms"],
        "first_frame_ms": (first_out - first_pts[0]) / 1e6 if first_out is not None and first_pts else None,
        "drops": stats["drops"],
        "repeats": stats["repeats"],
        "fps_out": stats["fps_out_overall"],
        "fps_in": stats["fps_in_overall"],
        "frames_out": stats["frames_out"],
        "latency_frames": stats["latency_frames"],
        "rtf": src.get("rtf"),
        "source": src,
        "onset_ms": {
            "p50": float(np.median(onset_ms)) if onset_ms else None,
            "p95": float(np.percentile(onset_ms, 95)) if onset_ms else None,
            "detected": len(onset_ms),
            "onsets": len(onsets),
        },
        "delay_ms": stats["delay_ms"],
        "drops_by_stage": stats["drops_by_stage"],
        "counters": stats["counters"],
        "stages_ms": {
            k: {q: round(v[q], 3) for q in ("mean", "p50", "p95", "max")} for k, v in stats["stages_ms"].items()
        },
    }
    print(
        f"{motion}: latency p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  max "
        f"{result['max_ms']:.1f} ms | first frame {result['first_frame_ms']} ms | fps out {result['fps_out']:.2f} | "
        f"drops {result['drops']} repeats {result['repeats']} | rtf {result['rtf']} | "
        f"onset p50 {result['onset_ms']['p50']} ms ({len(onset_ms)}/{len(onsets)})",
        flush=True,
    )
    return result


def _run_video(args: argparse.Namespace, avatar: Any, outputs: list[Any]) -> dict[str, Any]:
    """Camera (a known clip played in real time through the capture device) → video motion → outputs."""
    import tempfile
    from pathlib import Path

    from pyavatar.sdk.video import SilentClock
    from pyavatar.video import CameraCapture, VideoFileDevice

    with tempfile.TemporaryDirectory(prefix="pyavatar-bench-") as tmp:
        clip = camera_clip(Path(tmp) / "camera.mp4", 10.0, args.fps)
        camera = CameraCapture(0, opener=lambda _i: VideoFileDevice(clip, realtime=True, loop=True))
        try:
            session = avatar.session(
                fps=args.fps, outputs=outputs, delay_ms=args.delay_ms, motion="video", motion_options={"camera": camera}
            )
            print(
                f"bench live: video motion (camera: {clip.name} at {args.fps:g} fps through the capture device), "
                f"{avatar.renderer.name} renderer {args.size}x{args.size}, {args.threads} threads, "
                f"{args.seconds:g} s",
                flush=True,
            )
            session.start(SilentClock(session.clock))
            session.wait(args.seconds)
            stats = session.stats()
            session.stop()
        finally:
            camera.close()
    src = stats["motion"]
    result = {
        "motion": "video",
        "p50_ms": stats["p50_ms"],
        "p95_ms": stats["p95_ms"],
        "max_ms": stats["max_ms"],
        "drops": stats["drops"],
        "repeats": stats["repeats"],
        "fps_out": stats["fps_out_overall"],
        "frames_out": stats["frames_out"],
        "source": src,
        "track_ms": src.get("track_ms"),
        "camera_frames": src.get("camera_frames"),
        "camera_dropped": src.get("camera_dropped"),
        "delay_ms": stats["delay_ms"],
        "drops_by_stage": stats["drops_by_stage"],
        "counters": stats["counters"],
        "stages_ms": {
            k: {q: round(v[q], 3) for q in ("mean", "p50", "p95", "max")} for k, v in stats["stages_ms"].items()
        },
    }
    track = result["track_ms"] or {}
    print(
        f"video: camera→output p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  max "
        f"{result['max_ms']:.1f} ms | tracking p50 {track.get('p50', float('nan')):.1f} ms p95 "
        f"{track.get('p95', float('nan')):.1f} ms per frame | fps out {result['fps_out']:.2f} | camera frames "
        f"{result['camera_frames']} (never seen {result['camera_dropped']}) | drops {result['drops']} repeats "
        f"{result['repeats']}",
        flush=True,
    )
    return result
