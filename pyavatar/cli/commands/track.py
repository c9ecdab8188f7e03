"""``pyavatar track``: a webcam (or video) face tracker for 3-D avatars, sending ARKit-52 over VMC; no portrait."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from pyavatar.face.params import FaceParams
    from pyavatar.packets import MotionFrame
    from pyavatar.runtime.frames import StreamInfo
    from pyavatar.tracking import TrackerSettings
    from pyavatar.video import CameraCapture

#: ARKit shapes set from the tracker's extra measures (FaceParams has no field for them).
EXTRA_SHAPES = {
    "mouthPressLeft": "mouth_press",
    "mouthPressRight": "mouth_press",
    "mouthFunnel": "mouth_funnel",
    "cheekSquintLeft": "cheek_squint_left",
    "cheekSquintRight": "cheek_squint_right",
}


class _TrackedSender(Protocol):
    """A VMC sender that also sends the tracker's ARKit-only measures (:attr:`extras`, set per frame)."""

    extras: dict[str, float]
    frames_sent: int

    def start(self, info: StreamInfo) -> None:
        """Open the socket and start sending."""

    def write_motion(self, frame: MotionFrame) -> None:
        """The frame the next ticks send."""

    def close(self) -> None:
        """Stop sending."""


def _sender_class() -> Callable[..., _TrackedSender]:
    from pyavatar.outputs.vmc import VmcSender

    class TrackedVmcSender(VmcSender):
        """VMC frames from tracked values: the FaceParams shapes plus the tracker's ARKit-only extras."""

        extras: dict[str, float] = {}

        def _blend(self, params: FaceParams, visemes: np.ndarray) -> np.ndarray:
            values = super()._blend(params, visemes)
            for row, (vocabulary, name, driven) in enumerate(self.blends):
                key = EXTRA_SHAPES.get(name) if vocabulary == "arkit" and driven else None
                if key is not None:
                    values[row] = max(float(values[row]), float(self.extras.get(key, 0.0)))
            return values

    return TrackedVmcSender


def open_source(args: argparse.Namespace) -> CameraCapture:
    """A :class:`~pyavatar.video.CameraCapture` on ``--camera`` or on ``--video`` played in real time."""
    from pyavatar.video import CameraCapture, VideoFileDevice

    if args.video:
        path = Path(args.video)
        return CameraCapture(0, opener=lambda _i: VideoFileDevice(path, realtime=not args.fast))
    return CameraCapture(args.camera, width=args.width, height=args.height, fps=args.fps)


def calibration_frames(path: str, seconds: float = 2.0) -> list[np.ndarray]:
    """RGB frames of a neutral face: an image, or the first ``seconds`` of a video."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from pyavatar.video import iter_video

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--calibrate-neutral: file not found: {p}")
    try:
        with Image.open(p) as im:
            return [np.array(im.convert("RGB"))]
    except UnidentifiedImageError:
        return [f for t, f in iter_video(p) if t < seconds]


def _settings(args: argparse.Namespace) -> TrackerSettings:
    from pyavatar.tracking import TrackerSettings

    return TrackerSettings(calibrate_s=args.calibrate_s, smoothing=not args.no_smoothing, mirror=args.mirror)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from pyavatar.face.mappings import to_visemes
    from pyavatar.outputs.osc import parse_target
    from pyavatar.outputs.vmc import PRESETS
    from pyavatar.packets import VRM_VISEMES, MotionFrame
    from pyavatar.runtime.frames import StreamInfo
    from pyavatar.tracking import FaceTracker

    host, port = parse_target(args.vmc, PRESETS[args.vmc_preset])
    tracker = FaceTracker(_settings(args))
    if args.calibrate_neutral:
        found = tracker.calibrate_frames(calibration_frames(args.calibrate_neutral))
        print(f"neutral face from {args.calibrate_neutral} ({found} frame(s))", flush=True)
    source = open_source(args)
    sender = _sender_class()(
        host,
        port,
        preset=args.vmc_preset,
        rate=args.vmc_rate,
        vocabularies=("arkit",),
        arkit_case=args.vmc_case,
        gaze=args.vmc_gaze,
    )
    sender.start(StreamInfo(source.size[0], source.size[1], source.fps))
    print(
        f"tracking {'video ' + args.video if args.video else f'camera {args.camera!r}'} "
        f"({source.size[0]}x{source.size[1]} @ {source.fps:g} fps) → VMC {host}:{port}",
        flush=True,
    )
    frames = found = 0
    t0_ns = None
    started = time.monotonic()
    try:
        with source, tracker:
            for frame in source:
                t0_ns = frame.capture_ns if t0_ns is None else t0_ns
                out = tracker.process(frame.image, (frame.capture_ns - t0_ns) / 1e9)
                visemes = to_visemes(out.params)
                sender.extras = out.extras
                sender.write_motion(
                    MotionFrame(
                        frames,
                        frame.capture_ns - t0_ns,
                        source.fps,
                        frame.capture_ns,
                        out.params.values[0],
                        np.array([visemes[v][0] for v in VRM_VISEMES]),
                    )
                )
                frames += 1
                found += out.found
                if args.seconds and time.monotonic() - started >= args.seconds:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        sender.close()
    print(
        f"{frames} frames tracked, face found in {found}, {source.dropped} camera frames skipped (newest wins), "
        f"{sender.frames_sent} VMC frames sent"
    )
    return 0


def add_tracker_arguments(p: argparse.ArgumentParser) -> None:
    """Tracker options shared by the commands that track faces."""
    p.add_argument("--calibrate-neutral", metavar="IMAGE|VIDEO", help="neutral face (default: the first second)")
    p.add_argument("--calibrate-s", type=float, default=1.0, help="seconds of the first-second calibration")
    p.add_argument("--no-smoothing", action="store_true", help="send raw values (no One-Euro filter)")
    p.add_argument("--mirror", action="store_true", help="the camera image is mirrored")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``track`` command and its options to ``sub``."""
    p = sub.add_parser(
        "track",
        help="webcam/video face tracker → ARKit-52 blendshapes and head bones over VMC",
        description=(
            "Track a face from a webcam (or a video file played in real time) with MediaPipe's 478-point mesh and"
            " send ARKit-52 blendshapes and head/eye bones over VMC to a 3-D avatar app (VSeeFace, Warudo, VNyan,"
            " Unity/EVMC4U); no portrait needed. --calibrate-neutral sets the rest face; see docs/tracking.md."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", metavar="N|NAME", help="camera index or part of its name")
    src.add_argument("--video", metavar="FILE", help="a video file instead of a camera (played in real time)")
    p.add_argument("--vmc", required=True, metavar="HOST:PORT", help="VMC receiver (e.g. 127.0.0.1:39539)")
    p.add_argument("--vmc-preset", choices=("marionette", "performer"), default="marionette")
    p.add_argument("--vmc-rate", type=float, default=60.0, help="VMC frames per second")
    p.add_argument("--vmc-case", choices=("upper", "lower"), default="upper", help="ARKit name case")
    p.add_argument("--vmc-gaze", choices=("bones", "shapes", "none"), default="bones")
    p.add_argument("--width", type=int, help="camera frame width to ask for")
    p.add_argument("--height", type=int, help="camera frame height to ask for")
    p.add_argument("--fps", type=float, help="camera frame rate to ask for")
    p.add_argument("--fast", action="store_true", help="--video: as fast as possible instead of real time")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: until the end / Ctrl-C)")
    add_tracker_arguments(p)
    p.set_defaults(func=_run)
