"""``pyavatar bench tracking``: face-tracking round trip, tracking cost and camera→output latency.

Round trip: a known FaceParams sequence (:func:`pyavatar.tracking.roundtrip.known_sequence`)
is rendered by the classical renderer from a portrait, then tracked back with
the default tracker settings after a neutral calibration on the lead frames;
correlations, slopes, errors and blink recall per portrait
(:func:`~pyavatar.tracking.roundtrip.score`).

Latency: the rendered sequence is written to a video file and played through
the video-file-backed camera capture in real time at ``--fps``; each frame is
tracked and rendered on the classical renderer; latency = output time − the
frame's capture time (p50/p95), with the tracking cost per frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

DESCRIPTION = "face tracking: round trip through the classical renderer, cost per frame, camera→output latency"
PORTRAITS = ("astronaut", "grace_hopper")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The suite's command-line options."""
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--frames", type=int, default=300, help="frames per round-trip sequence (default: 300)")
    p.add_argument("--size", type=int, default=384, help="rendered frame side in pixels (default: 384)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default: 30)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the C++ kernels (default: 2)")
    p.add_argument("--seeds", type=int, default=2, help="sequences per portrait (default: 2)")
    p.add_argument("--latency-seconds", type=float, default=20.0, help="length of the latency run (0: skip)")


def portrait_image(name: str) -> np.ndarray:
    """RGB pixels of a sample portrait: ``astronaut`` (scikit-image) or ``grace_hopper`` (matplotlib)."""
    if name not in PORTRAITS:
        raise ValueError(f"unknown sample portrait {name!r}; choose from {PORTRAITS}")
    try:
        if name == "astronaut":
            from skimage import data

            return data.astronaut()
        import matplotlib.cbook
    except ImportError as e:
        raise SystemExit(f"the sample portrait {name!r} needs {e.name}: pip install 'pyavatar[bench]'") from e
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.array(Image.open(f).convert("RGB"))


def render_sequence(image: np.ndarray, params: Any, size: int) -> np.ndarray:
    """(T, size, size, 3) frames of ``params`` on ``image`` (classical renderer, upright crop)."""
    from pyavatar.render.classical.renderer import ClassicalRenderer

    renderer = ClassicalRenderer(output="crop", crop_size=size)
    return renderer.render_params(renderer.prepare(image), params)


def round_trip(
    image: np.ndarray, *, frames: int, size: int, fps: float = 30.0, seed: int = 0, lead: int = 8, settings: Any = None
) -> dict[str, Any]:
    """Render a known sequence, calibrate on its lead frames, track it back and score it.

    Adds ``track_ms`` (tracker per frame), ``mesh_ms`` (MediaPipe's mesh alone on the same frames, the
    reference) and their ratio ``track_over_mesh``.
    """
    from pyavatar.face.params import FaceParams
    from pyavatar.tracking import FaceTracker
    from pyavatar.tracking.roundtrip import known_sequence, score

    known = known_sequence(frames, fps, lead=lead, seed=seed)
    video = render_sequence(image, known, size)
    with FaceTracker(settings) as tracker:
        tracker.calibrate_frames(video[:lead])
        t0 = time.perf_counter()
        out = [tracker.process(f, i / fps) for i, f in enumerate(video)]
        cost = (time.perf_counter() - t0) / len(video)
        t0 = time.perf_counter()
        for f in video:  # the reference: MediaPipe's mesh alone on the same frames
            tracker.mesh.process(f)
        mesh_cost = (time.perf_counter() - t0) / len(video)
    result = score(known, FaceParams.concat([o.params for o in out]), skip=lead)
    result["track_ms"] = round(cost * 1000, 2)
    result["mesh_ms"] = round(mesh_cost * 1000, 2)
    result["track_over_mesh"] = round(cost / mesh_cost, 3)
    return result


def latency(image: np.ndarray, *, seconds: float, size: int, fps: float, threads: int) -> dict[str, Any]:
    """Camera → tracker → classical renderer latency, through the capture code on a video file.

    The camera is a video file played in real time through :class:`~pyavatar.video.CameraCapture`; per
    frame: capture → rendered-frame latency, tracking and render cost.
    """
    import tempfile

    from pyavatar.render.classical import raster
    from pyavatar.render.classical.renderer import ClassicalRenderer
    from pyavatar.tracking import FaceTracker
    from pyavatar.tracking.roundtrip import known_sequence
    from pyavatar.video import CameraCapture, VideoFileDevice, write_video

    raster.set_threads(threads)
    known = known_sequence(int(fps * 10), fps, lead=0, seed=7)
    renderer = ClassicalRenderer(output="crop", crop_size=size)
    portrait = renderer.prepare(image)
    camera_frames = np.stack([renderer.render(portrait, known, t) for t in range(len(known))])
    lat, track, render = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "camera.mp4", camera_frames, fps)
        opener = lambda _index: VideoFileDevice(path, realtime=True, loop=True)  # noqa: E731
        with CameraCapture(0, opener=opener) as camera, FaceTracker() as tracker:
            t_end = time.monotonic() + seconds
            t0 = None
            while time.monotonic() < t_end:
                frame = camera.read()
                if frame is None:
                    break
                t0 = frame.capture_ns if t0 is None else t0
                a = time.perf_counter()
                tracked = tracker.process(frame.image, (frame.capture_ns - t0) / 1e9)
                b = time.perf_counter()
                renderer.render(portrait, tracked.params)
                c = time.perf_counter()
                lat.append((time.monotonic_ns() - frame.capture_ns) / 1e6)
                track.append((b - a) * 1e3)
                render.append((c - b) * 1e3)
            frames_in, dropped = camera.frames_read, camera.dropped
    q = lambda v, p: round(float(np.percentile(v[len(v) // 10 :], p)), 2)  # noqa: E731 - skip the warm-up tenth
    return {
        "seconds": seconds,
        "fps_in": fps,
        "frames_in": frames_in,
        "frames_out": len(lat),
        "dropped": dropped,
        "latency_p50_ms": q(lat, 50),
        "latency_p95_ms": q(lat, 95),
        "latency_max_ms": round(max(lat), 2),
        "track_p50_ms": q(track, 50),
        "track_p95_ms": q(track, 95),
        "render_p50_ms": q(render, 50),
        "render_p95_ms": q(render, 95),
    }


def run(args: argparse.Namespace) -> int:
    """Run the suite: round trips per portrait and seed, tracking cost, camera → output latency."""
    results: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "frames": args.frames,
        "size": args.size,
        "fps": args.fps,
        "round_trip": {},
    }
    for name in PORTRAITS:
        image = portrait_image(name)
        for seed in range(args.seeds):
            r = round_trip(image, frames=args.frames, size=args.size, fps=args.fps, seed=seed)
            results["round_trip"][f"{name}/seed{seed}"] = r
            corr = " ".join(f"{k}={r[k]['r']:.3f}" for k in r if isinstance(r[k], dict) and "r" in r[k])
            recall = [r[f"blink_{s}_events"]["recall"] for s in ("left", "right")]
            print(
                f"{name} seed {seed}: {corr} head_mae={r['head_angle_mae_deg']:.2f}° blink_recall={recall} "
                f"track={r['track_ms']:.1f} ms/frame (MediaPipe mesh alone {r['mesh_ms']:.1f} ms, "
                f"ratio {r['track_over_mesh']:.2f})",
                flush=True,
            )
    if args.latency_seconds > 0:
        results["latency"] = latency(
            portrait_image(PORTRAITS[0]),
            seconds=args.latency_seconds,
            size=args.size,
            fps=args.fps,
            threads=args.threads,
        )
        print("latency:", results["latency"], flush=True)
    if args.json:
        out = Path(args.json)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(out)
        print(f"wrote {out}")
    return 0
