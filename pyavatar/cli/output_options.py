"""``pyavatar live`` output options: virtual webcam, VMC, VTube Studio, raw OSC, preview; and the sinks they build."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Protocol

OUTPUT_DEFAULTS: dict[str, Any] = {
    "virtualcam": False,
    "cam_size": "1280x720",
    "cam_backend": "",
    "cam_device": "",
    "cam_format": "rgb",
    "background": "#00ff00",
    "vmc": "",
    "vmc_preset": "marionette",
    "vmc_rate": 60.0,
    "vmc_names": ["vrm0"],
    "vmc_case": "upper",
    "vmc_face": "",
    "vmc_gaze": "bones",
    "vmc_emotions": "nonzero",
    "vmc_root": False,
    "vmc_bone_positions": "rest",
    "vmc_bundle": True,
    "vmc_max_bytes": 1200,
    "vtube_studio": "",
    "vts_rate": 30.0,
    "vts_hotkey": [],
    "vts_token_file": "",
    "osc": "",
    "osc_rate": 60.0,
    "preview": False,
}


class Described(Protocol):
    """An output built from the options: it says what it sends where."""

    def describe(self) -> str:
        """One line for the start-up banner."""


def _size(text: str) -> tuple[int | None, int | None]:
    if text in ("", "portrait"):
        return None, None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise ValueError(f"--cam-size: expected WIDTHxHEIGHT (e.g. 1280x720) or 'portrait', got {text!r}")
    return int(w), int(h)


def _hotkeys(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        emotion, sep, target = item.partition("=")
        if not sep or not emotion.strip() or not target.strip():
            raise ValueError(f"--vts-hotkey: expected EMOTION=HOTKEY (e.g. happy=Smile), got {item!r}")
        out[emotion.strip()] = target.strip()
    return out


def build_outputs(args: argparse.Namespace) -> list[Described]:
    """The sinks selected by the options."""
    outputs: list[Described] = []
    if args.virtualcam:
        from pyavatar.outputs.virtualcam import VirtualCamSink

        if args.cam_device and not args.cam_backend:
            raise ValueError(
                "--cam-device names a device of one backend; add --cam-backend (v4l2loopback, obs, unitycapture)"
            )
        w, h = _size(args.cam_size)
        outputs.append(
            VirtualCamSink(
                w,
                h,
                fmt=args.cam_format,
                backend=args.cam_backend or None,
                device=args.cam_device or None,
                background=args.background,
            )
        )
    if args.vmc:
        from pyavatar.outputs.osc import parse_target
        from pyavatar.outputs.vmc import PRESETS, VmcSender

        if args.vmc_preset not in PRESETS:
            raise ValueError(f"--vmc-preset must be one of {list(PRESETS)}, got {args.vmc_preset!r}")
        host, port = parse_target(args.vmc, PRESETS[args.vmc_preset])
        outputs.append(
            VmcSender(
                host,
                port,
                preset=args.vmc_preset,
                rate=args.vmc_rate,
                vocabularies=args.vmc_names,
                arkit_case=args.vmc_case,
                face_source=args.vmc_face or None,
                gaze=args.vmc_gaze,
                emotions=args.vmc_emotions,
                bone_positions=args.vmc_bone_positions,
                send_root=args.vmc_root,
                bundle=args.vmc_bundle,
                max_bytes=args.vmc_max_bytes,
            )
        )
    if args.vtube_studio:
        from pyavatar.outputs.vtube_studio import VTubeStudioSink

        outputs.append(
            VTubeStudioSink(
                args.vtube_studio,
                rate=args.vts_rate,
                hotkeys=_hotkeys(args.vts_hotkey),
                token_path=args.vts_token_file or None,
            )
        )
    if args.osc:
        from pyavatar.outputs.osc import parse_target
        from pyavatar.outputs.raw_osc import DEFAULT_PORT, RawOscSender

        host, port = parse_target(args.osc, DEFAULT_PORT)
        outputs.append(RawOscSender(host, port, rate=args.osc_rate))
    if args.preview:
        from pyavatar.outputs.preview import PreviewSink

        outputs.append(PreviewSink())
    return outputs


def describe_outputs(outputs: Sequence[Described]) -> list[str]:
    """One line per sink for the start-up banner."""
    return [o.describe() for o in outputs]


def add_output_options(p: argparse.ArgumentParser) -> None:
    """The virtual webcam, VMC, VTube Studio, OSC and preview option groups."""
    d = OUTPUT_DEFAULTS
    g = p.add_argument_group("virtual webcam")
    g.add_argument("--virtualcam", action=argparse.BooleanOptionalAction, help="send frames to a virtual webcam")
    g.add_argument(
        "--cam-size",
        metavar="WxH",
        help="camera canvas; the portrait is fitted onto it "
        f"(default: {d['cam_size']}; 'portrait' = the portrait's own size)",
    )
    g.add_argument("--cam-backend", help="pyvirtualcam backend: v4l2loopback, obs, unitycapture (default: any)")
    g.add_argument("--cam-device", help="device of --cam-backend, e.g. /dev/video2")
    g.add_argument(
        "--cam-format",
        choices=["rgb", "rgba"],
        help="pixel format (default: rgb; rgba keeps alpha "
        "only with --cam-backend unitycapture, elsewhere it is composited over --background)",
    )
    g.add_argument("--background", metavar="COLOR", help=f"key colour behind the portrait (default: {d['background']})")
    g = p.add_argument_group("VMC (VirtualMotionCapture protocol; see docs/unity.md, docs/unreal.md)")
    g.add_argument(
        "--vmc",
        nargs="?",
        const="127.0.0.1",
        metavar="HOST:PORT",
        help="send VMC; HOST alone uses the preset's port (default target 127.0.0.1:39539)",
    )
    g.add_argument(
        "--vmc-preset",
        choices=["marionette", "performer"],
        help="marionette (a renderer, :39539: bones + blendshapes) or performer (e.g. "
        "VirtualMotionCapture, :39540: blendshapes + Set/Eye only)",
    )
    g.add_argument("--vmc-rate", type=float, help=f"frames per second (default: {d['vmc_rate']:g})")
    g.add_argument(
        "--vmc-names",
        type=lambda s: [v for v in s.split(",") if v],
        metavar="LIST",
        help="blendshape sets: vrm0, vrm1, arkit, comma-separated (default: vrm0)",
    )
    g.add_argument("--vmc-case", choices=["upper", "lower"], help="ARKit name case (default: upper, Perfect Sync)")
    g.add_argument(
        "--vmc-face",
        choices=["vrm", "arkit"],
        help="one source for mouth and eyelids: VRM clips (A/I/U/E/O, Blink) or ARKit shapes; the "
        "other is sent as 0 (default: arkit when listed)",
    )
    g.add_argument("--vmc-gaze", choices=["bones", "shapes", "none"], help="gaze as eye bones or Look* shapes")
    g.add_argument(
        "--vmc-emotions",
        choices=["off", "nonzero", "always"],
        help="emotion clips: off (the receiver's hotkey expressions keep working), nonzero (while "
        "active, then one 0) or always (default: nonzero)",
    )
    g.add_argument(
        "--vmc-root",
        action=argparse.BooleanOptionalAction,
        help="also send /VMC/Ext/Root/Pos at the origin (pins the avatar there; default: off)",
    )
    g.add_argument(
        "--vmc-bone-positions",
        metavar="rest|zero|FILE.vrm",
        help="local bone positions: a standard humanoid (rest, default), zeros for rotation-only "
        "receivers, or read from your VRM model",
    )
    g.add_argument("--vmc-bundle", action=argparse.BooleanOptionalAction, help="bundle messages (default: on)")
    g.add_argument("--vmc-max-bytes", type=int, help=f"largest datagram (default: {d['vmc_max_bytes']})")
    g = p.add_argument_group("VTube Studio (plugin API; see docs/vtube_studio.md)")
    g.add_argument(
        "--vtube-studio",
        nargs="?",
        const="ws://127.0.0.1:8001",
        metavar="URL",
        help="drive VTube Studio's default parameters (default URL ws://127.0.0.1:8001)",
    )
    g.add_argument("--vts-rate", type=float, help=f"injections per second (default: {d['vts_rate']:g})")
    g.add_argument(
        "--vts-hotkey",
        action="append",
        metavar="EMOTION=HOTKEY",
        help="trigger a VTS hotkey (name or ID) or an .exp3.json expression while an emotion is "
        "active, e.g. happy=Smile (repeatable)",
    )
    g.add_argument("--vts-token-file", metavar="FILE", help="where the VTS token is kept (default: user config dir)")
    g = p.add_argument_group("OSC")
    g.add_argument(
        "--osc",
        nargs="?",
        const="127.0.0.1",
        metavar="HOST:PORT",
        help="send /pyavatar/pose|face|viseme|emotion|stats (default port 9000)",
    )
    g.add_argument("--osc-rate", type=float, help=f"messages per second (default: {d['osc_rate']:g})")
    g.add_argument("--preview", action=argparse.BooleanOptionalAction, help="show a preview window")
