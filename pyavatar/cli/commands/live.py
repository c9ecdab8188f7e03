"""``pyavatar live IMAGE``: animate a portrait from a microphone to a virtual webcam, VMC/OSC and a preview."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pyavatar.cli.commands.render import (
    AVATAR_DEFAULTS,
    add_avatar_options,
    make_avatar,
    run_reporting_errors,
    session_options,
)

LIVE_DEFAULTS: dict[str, Any] = {
    "mic": "", "audio": "", "virtualcam": False, "cam_size": "", "cam_backend": "", "cam_device": "",
    "cam_format": "rgb", "background": "#00ff00", "vmc": "", "vmc_preset": "marionette", "vmc_rate": 60.0,
    "vmc_names": ["vrm0"], "vmc_case": "upper", "vmc_gaze": "bones", "vmc_bundle": True, "osc": "",
    "osc_rate": 60.0, "control": "127.0.0.1:39541", "preview": False, "stats": False, "stats_json": "",
    "duration": 0.0, "delay_ms": 0.0,
}  # fmt: skip


def stats_line(s: dict[str, Any]) -> str:
    """One status line: latency, rates, drops and repeats."""
    latency = f"latency p50 {s['p50_ms']:6.1f} ms  p95 {s['p95_ms']:6.1f} ms  max {s['max_ms']:6.1f} ms"
    return f"{latency} | fps in {s['fps_in']:5.1f} out {s['fps_out']:5.1f} | drops {s['drops']} repeats {s['repeats']}"


def _size(text: str) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise ValueError(f"--cam-size: expected WIDTHxHEIGHT, got {text!r}")
    return int(w), int(h)


def build_outputs(args: argparse.Namespace) -> list[Any]:
    """The sinks selected by the options."""
    outputs: list[Any] = []
    if args.virtualcam:
        from pyavatar.outputs.virtualcam import VirtualCamSink

        w, h = _size(args.cam_size)
        outputs.append(VirtualCamSink(w, h, fmt=args.cam_format, backend=args.cam_backend or None,
                                      device=args.cam_device or None, background=args.background))  # fmt: skip
    if args.vmc:
        from pyavatar.outputs.osc import parse_target
        from pyavatar.outputs.vmc import PRESETS, VmcSender

        host, port = parse_target(args.vmc, PRESETS.get(args.vmc_preset, 39539))
        outputs.append(VmcSender(host, port, preset=args.vmc_preset, rate=args.vmc_rate, vocabularies=args.vmc_names,
                                 arkit_case=args.vmc_case, gaze=args.vmc_gaze, bundle=args.vmc_bundle))  # fmt: skip
    if args.osc:
        from pyavatar.outputs.osc import parse_target
        from pyavatar.outputs.raw_osc import DEFAULT_PORT, RawOscSender

        host, port = parse_target(args.osc, DEFAULT_PORT)
        outputs.append(RawOscSender(host, port, rate=args.osc_rate))
    if args.preview:
        from pyavatar.outputs.preview import PreviewSink

        outputs.append(PreviewSink())
    return outputs


def _describe(outputs: list[Any], session: Any) -> list[str]:
    lines = []
    for o in outputs:
        name = type(o).__name__
        if name == "VirtualCamSink":
            lines.append(f"virtual webcam {o.device_name} ({o.fmt})")
        elif name == "VmcSender":
            lines.append(f"VMC ({o.preset}) to {o.host}:{o.port} at {o.rate:g} Hz, {len(o.names)} blendshapes")
        elif name == "RawOscSender":
            lines.append(f"OSC /pyavatar/* to {o.host}:{o.port} at {o.rate:g} Hz")
        elif name == "PreviewSink":
            lines.append("preview window")
    if session.control_address:
        host, port = session.control_address
        lines.append(f"control: /pyavatar/set/* on {host}:{port}")
    return lines


def _live(args: argparse.Namespace) -> int:
    from pyavatar.config import resolve

    resolve(args, "live")
    if args.vmc_preset not in ("marionette", "performer"):
        raise ValueError(f"--vmc-preset must be marionette or performer, got {args.vmc_preset!r}")
    avatar = make_avatar(args, args.image)
    outputs = build_outputs(args)
    if not outputs:
        print("note: no output selected (--virtualcam, --vmc, --osc, --preview); running for the statistics only")
    session = avatar.session(fps=args.fps, outputs=outputs, delay_ms=args.delay_ms or None, **session_options(args))
    control = None if args.control in ("", "off", "none") else args.control
    if args.audio:
        session.start(file=args.audio, control=control)
        source = f"file {args.audio} (played in real time)"
    else:
        session.start(mic=args.mic or None, control=control)
        source = f"microphone {args.mic or '(default)'}"
    print(f"live: {avatar.renderer.name} renderer, {session.motion.name} motion "
          f"({session.motion.latency_s * 1e3:.0f} ms algorithmic latency), {session.width}x{session.height} at "
          f"{args.fps:g} fps, audio from {source}")  # fmt: skip
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
        stats = session.stats()
        session.stop()
    print("final: " + stats_line(stats))
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats, indent=1, default=float) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from pyavatar.config import register_options

    register_options("live", {**AVATAR_DEFAULTS, **LIVE_DEFAULTS})
    p = sub.add_parser(
        "live", help="animate a portrait live from a microphone (virtual webcam, VMC/OSC, preview)",
        description="Capture audio (a microphone, or --audio FILE played in real time), animate IMAGE and send "
        "frames to a virtual webcam and parameters over VMC/OSC. /pyavatar/set/* OSC messages on --control "
        "change emotion, intensity, lip scale, gaze, mute, head amplitude and pose, pause and renderer while it runs.",
    )  # fmt: skip
    p.add_argument("image", help="portrait (jpg, png; RGBA keeps its transparency)")
    d = LIVE_DEFAULTS
    g = p.add_argument_group("input")
    g.add_argument("--mic", metavar="DEV", help="input device index or name substring (default: system default; "
                   "see `pyavatar devices`)")  # fmt: skip
    g.add_argument("--audio", metavar="FILE", help="play FILE in real time instead of capturing a microphone")
    g = p.add_argument_group("virtual webcam")
    g.add_argument("--virtualcam", action=argparse.BooleanOptionalAction, help="send frames to a virtual webcam")
    g.add_argument("--cam-size", metavar="WxH", help="camera size, e.g. 1280x720 (default: the portrait's size)")
    g.add_argument("--cam-backend", help="pyvirtualcam backend: v4l2loopback, obs, unitycapture (default: any)")
    g.add_argument("--cam-device", help="camera device, e.g. /dev/video2")
    g.add_argument("--cam-format", choices=["rgb", "bgr", "rgba"], help="pixel format (default: rgb)")
    g.add_argument("--background", metavar="COLOR", help=f"key colour behind the portrait (default: {d['background']})")
    g = p.add_argument_group("VMC (VirtualMotionCapture protocol)")
    g.add_argument("--vmc", nargs="?", const="127.0.0.1", metavar="HOST:PORT",
                   help="send VMC; HOST alone uses the preset's port (default target 127.0.0.1:39539)")  # fmt: skip
    g.add_argument("--vmc-preset", choices=["marionette", "performer"],
                   help="marionette (renderer, :39539) or performer (e.g. VSeeFace receiver, :39540)")  # fmt: skip
    g.add_argument("--vmc-rate", type=float, help=f"frames per second (default: {d['vmc_rate']:g})")
    g.add_argument("--vmc-names", type=lambda s: [v for v in s.split(",") if v], metavar="LIST",
                   help="blendshape sets: vrm0, vrm1, arkit, comma-separated (default: vrm0)")  # fmt: skip
    g.add_argument("--vmc-case", choices=["upper", "lower"], help="ARKit name case (default: upper, Perfect Sync)")
    g.add_argument("--vmc-gaze", choices=["bones", "shapes", "none"], help="gaze as eye bones or Look* shapes")
    g.add_argument("--vmc-bundle", action=argparse.BooleanOptionalAction, help="bundle messages (default: on)")
    g = p.add_argument_group("OSC")
    g.add_argument("--osc", nargs="?", const="127.0.0.1", metavar="HOST:PORT",
                   help="send /pyavatar/pose|face|viseme|emotion|stats (default port 9000)")  # fmt: skip
    g.add_argument("--osc-rate", type=float, help=f"messages per second (default: {d['osc_rate']:g})")
    g.add_argument(
        "--control",
        metavar="[HOST:]PORT",
        help=f"listen for /pyavatar/set/* control messages (default: {d['control']}; 'off' disables)",
    )
    g = p.add_argument_group("monitoring")
    g.add_argument("--preview", action=argparse.BooleanOptionalAction, help="show a preview window")
    g.add_argument("--stats", action=argparse.BooleanOptionalAction, help="print latency, fps, drops every second")
    g.add_argument("--stats-json", metavar="FILE", help="write the final statistics as JSON")
    g.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    g.add_argument("--delay-ms", type=float, help="fixed playout delay (default: adaptive)")
    add_avatar_options(p)
    p.set_defaults(func=lambda a: run_reporting_errors("live", _live, a))
