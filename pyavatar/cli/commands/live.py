"""``pyavatar live IMAGE``: animate a portrait from a microphone to a virtual webcam, VMC/OSC and a preview."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyavatar.cli.commands.render import (
    AVATAR_DEFAULTS,
    add_avatar_options,
    check_options,
    make_avatar,
    session_options,
)
from pyavatar.cli.motion_options import add_video_input_option, check_video_motion
from pyavatar.cli.output_options import (
    OUTPUT_DEFAULTS,
    Described,
    add_output_options,
    build_outputs,
    describe_outputs,
)

if TYPE_CHECKING:
    from pyavatar.sdk import Session

LIVE_DEFAULTS: dict[str, Any] = {
    "mic": "",
    "audio": "",
    "control": "127.0.0.1:39541",
    "stats": False,
    "stats_json": "",
    "duration": 0.0,
    "delay_ms": 0.0,
    "camera": "",
    **OUTPUT_DEFAULTS,
}


def stats_line(s: dict[str, Any]) -> str:
    """One status line: latency, rates, drops and repeats."""
    latency = f"latency p50 {s['p50_ms']:6.1f} ms  p95 {s['p95_ms']:6.1f} ms  max {s['max_ms']:6.1f} ms"
    return f"{latency} | fps in {s['fps_in']:5.1f} out {s['fps_out']:5.1f} | drops {s['drops']} repeats {s['repeats']}"


def _describe(outputs: list[Described], session: Session) -> list[str]:
    lines = describe_outputs(outputs)
    if session.control_address:
        host, port = session.control_address
        lines.append(f"control: /pyavatar/set/* on {host}:{port}")
    return lines


def _check_microphone(device: str | None) -> None:
    """Fail before the portrait is prepared when there is no microphone to listen to."""
    from pyavatar.audio.mic import resolve_device
    from pyavatar.audio.sources import AudioDeviceError
    from pyavatar.cli.errors import CliError

    try:
        resolve_device(device)
    except AudioDeviceError as e:
        raise CliError(
            f"{e}; to run without a microphone, play a file with --audio FILE (`pyavatar devices` lists microphones)"
        ) from None


def _live(args: argparse.Namespace) -> int:
    from pyavatar.cli.config import resolve

    resolve(args, "live")
    check_options(args)
    # the camera alone drives the video source (a silent clock paces it): no microphone needed
    camera_only = bool(args.camera) and not args.mic and check_video_motion(args) == "video"
    if not args.audio and not camera_only:
        _check_microphone(args.mic or None)
    started = time.perf_counter()
    avatar = make_avatar(args, args.image)
    prepare_s = time.perf_counter() - started
    outputs = build_outputs(args)
    if not outputs:
        print(
            "note: no output selected (--virtualcam, --vmc, --vtube-studio, --osc, --preview); running for the "
            "statistics only"
        )
    session = avatar.session(fps=args.fps, outputs=outputs, delay_ms=args.delay_ms or None, **session_options(args))
    control = None if args.control in ("", "off", "none") else args.control
    if args.audio:
        session.start(file=args.audio, control=control)
        source = f"file {args.audio} (played in real time)"
    elif camera_only:
        from pyavatar.sdk.video import SilentClock

        session.start(SilentClock(session.clock), control=control)
        source = "none (the camera drives the face)"
    else:
        session.start(mic=args.mic or None, control=control)
        source = f"microphone {args.mic or '(default)'}"
    print(f"portrait prepared in {prepare_s:.2f} s")
    print(
        f"live: {avatar.renderer.name} renderer, {session.motion.name} motion "
        f"({session.motion.latency_s * 1e3:.0f} ms algorithmic latency), {session.width}x{session.height} at "
        f"{args.fps:g} fps, audio from {source}" + (f", camera {args.camera}" if args.camera else "")
    )
    for line in _describe(outputs, session):
        print(f"  -> {line}")
    print("Ctrl-C stops.", flush=True)
    end = time.monotonic() + args.duration if args.duration > 0 else None
    stats: dict[str, Any] = {}
    try:
        while True:
            step = 1.0 if end is None else max(0.0, min(1.0, end - time.monotonic()))
            if session.wait(step):
                break
            if args.stats:
                print(stats_line(session.stats()), flush=True)
            if end is not None and time.monotonic() >= end:
                break
    except KeyboardInterrupt:
        print()
    finally:
        stats = {**session.stats(), "prepare_s": round(prepare_s, 3)}
        session.stop()
    print("final: " + stats_line(stats))
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats, indent=1, default=float) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``live`` command and its options to ``sub``."""
    from pyavatar.cli.config import register_options

    register_options("live", {**AVATAR_DEFAULTS, **LIVE_DEFAULTS})
    p = sub.add_parser(
        "live",
        help="animate a portrait live from a microphone (virtual webcam, VMC, VTube Studio, OSC, preview)",
        description="Capture audio (a microphone, or --audio FILE played in real time), animate IMAGE and send "
        "frames to a virtual webcam and parameters over VMC, the VTube Studio plugin API and OSC. "
        "/pyavatar/set/* OSC messages on --control change emotion, intensity, lip scale, gaze, mute, head "
        "amplitude and pose, hybrid region weights, pause and renderer while it runs.",
    )
    p.add_argument("image", help="portrait (jpg, png; RGBA keeps its transparency)")
    d = LIVE_DEFAULTS
    g = p.add_argument_group("input")
    g.add_argument(
        "--mic",
        metavar="DEV",
        help="input device index or name substring (default: system default; see `pyavatar devices`)",
    )
    g.add_argument("--audio", metavar="FILE", help="play FILE in real time instead of capturing a microphone")
    add_video_input_option(p, "camera")
    add_output_options(p)
    g = p.add_argument_group("control")
    g.add_argument(
        "--control",
        metavar="[HOST:]PORT",
        help=f"listen for /pyavatar/set/* control messages (default: {d['control']}; 'off' disables)",
    )
    g = p.add_argument_group("monitoring")
    g.add_argument("--stats", action=argparse.BooleanOptionalAction, help="print latency, fps, drops every second")
    g.add_argument("--stats-json", metavar="FILE", help="write the final statistics as JSON")
    g.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    g.add_argument("--delay-ms", type=float, help="fixed playout delay (default: adaptive)")
    add_avatar_options(p)
    p.set_defaults(func=_live)
