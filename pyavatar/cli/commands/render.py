"""``pyavatar render IMAGE AUDIO -o OUT``: animate a portrait with a speech file, offline.

Also holds the avatar and session options shared by ``demo`` and ``live``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyavatar.cli.motion_options import (
    MOTION_DEFAULTS,
    add_motion_options,
    add_video_input_option,
    check_video_motion,
    driving_audio,
    motion_session_options,
    parse_gaze,
)

if TYPE_CHECKING:
    import numpy as np

    from pyavatar.sdk import Avatar
    from pyavatar.sdk.render import RenderResult

#: Options of every command that builds an avatar and a session (name: default).
AVATAR_DEFAULTS: dict[str, Any] = {
    "renderer": "classical",
    "weights": "",
    "crop": "",
    "face_index": 0,
    "fps": 30.0,
    "emotion": "neutral",
    "intensity": 1.0,
    "lip_scale": 1.0,
    "profile": "",
    "seed": 0,
    "face_points": "",
    **MOTION_DEFAULTS,
}
FILE_DEFAULTS: dict[str, Any] = {"alpha": False, "crf": 20, "progress": True}


def add_avatar_options(p: argparse.ArgumentParser) -> None:
    """Renderer, framing, frame rate, expression and config options (defaults come from :func:`resolve`)."""
    d = AVATAR_DEFAULTS
    p.add_argument("--config", metavar="FILE", help="TOML file with default options (see docs/sdk.md)")
    p.add_argument(
        "--renderer",
        help=f"renderer name or module:Factory (default: {d['renderer']}, or neural when --weights is given)",
    )
    p.add_argument("--weights", metavar="DIR", help="LivePortrait checkpoints: selects the neural renderer")
    p.add_argument("--crop", metavar="X,Y,W,H", help="face box in pixels; skips face detection")
    p.add_argument("--face-points", metavar="LX,LY,RX,RY,MX,MY", help="eyes and mouth centre in pixels (animals)")
    p.add_argument("--face-index", type=int, help="which face to animate when there are several (default: 0)")
    p.add_argument("--fps", type=float, help=f"frame rate (default: {d['fps']:g})")
    p.add_argument("--emotion", help="neutral, happy, sad, angry, surprised or relaxed (default: neutral)")
    p.add_argument("--intensity", type=float, help="emotion intensity 0..1 (default: 1)")
    p.add_argument("--lip-scale", type=float, help="mouth opening gain 0..3 (default: 1)")
    p.add_argument("--profile", metavar="JSON", help="vowel profile from `pyavatar calibrate`")
    p.add_argument("--seed", type=int, help="motion seed: idle motion, sampling noise (default: 0)")
    add_motion_options(p)


def add_file_options(p: argparse.ArgumentParser) -> None:
    """Video/PNG output options."""
    p.add_argument(
        "--alpha",
        action=argparse.BooleanOptionalAction,
        help="keep the portrait's alpha channel (.mov, .webm or PNG frames; default: off)",
    )
    p.add_argument("--crf", type=int, help="video quality, lower is better (default: 20)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, help="show a progress bar (default: on)")


def parse_crop(text: str) -> tuple[float, float, float, float] | None:
    """``"x,y,w,h"`` → a tuple (empty → None)."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"--crop: expected X,Y,W,H, got {text!r}")
    x, y, w, h = (float(v) for v in parts)
    return x, y, w, h


def parse_face_points(text: str) -> tuple[tuple[float, float], ...] | None:
    """``"lx,ly,rx,ry,mx,my"`` → ((lx, ly), (rx, ry), (mx, my)) (empty → None)."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 6:
        raise ValueError(f"--face-points: expected LX,LY,RX,RY,MX,MY (eyes and mouth centre), got {text!r}")
    v = [float(t) for t in parts]
    return (v[0], v[1]), (v[2], v[3]), (v[4], v[5])


def check_options(args: argparse.Namespace) -> None:
    """Validate every avatar, motion and expression option before the portrait is prepared.

    Preparing takes seconds, so a typo fails at once, naming the option.
    """
    from pyavatar.motion.emotion import PRESET_NAMES
    from pyavatar.motion.registry import motion_source_info
    from pyavatar.runtime import control as ctl

    if args.emotion not in PRESET_NAMES:
        raise ValueError(f"--emotion: unknown emotion {args.emotion!r}; choose from {', '.join(PRESET_NAMES)}")
    parse_crop(args.crop)
    parse_face_points(args.face_points)
    parse_gaze(args.gaze)
    for option, check in (
        ("--emotion/--intensity", lambda: ctl.SetEmotion(args.emotion, args.intensity)),
        ("--lip-scale", lambda: ctl.SetLipScale(args.lip_scale)),
        ("--motion", lambda: motion_source_info(check_video_motion(args))),
    ):
        try:
            check()
        except ValueError as e:
            raise ValueError(f"{option}: {e}") from None


def make_avatar(args: argparse.Namespace, image: str | Path | np.ndarray) -> Avatar:
    """The avatar for ``image`` with the parsed renderer options."""
    from pyavatar.sdk import Avatar

    options: dict[str, Any] = {}
    renderer = args.renderer
    if args.weights:
        renderer = "neural" if renderer == AVATAR_DEFAULTS["renderer"] else renderer
        options["weights"] = args.weights
        options.update({"config": args.weights_config} if args.weights_config else {})
    return Avatar.from_image(
        image,
        renderer=renderer,
        crop=parse_crop(args.crop),
        face_index=args.face_index,
        face_points=parse_face_points(args.face_points),
        **options,
    )


def session_options(args: argparse.Namespace) -> dict[str, Any]:
    """Session keyword arguments from the parsed options."""
    return {
        "emotion": args.emotion,
        "intensity": args.intensity,
        "lip_scale": args.lip_scale,
        "profile": args.profile or None,
        "seed": args.seed,
        **motion_session_options(args),
    }


def render_with_progress(
    args: argparse.Namespace, image: str | Path, audio: str | Path, output: str | Path
) -> RenderResult:
    """Render and show a progress bar (seconds of audio) unless ``--no-progress``."""
    import soundfile as sf
    from tqdm import tqdm

    check_options(args)
    avatar = make_avatar(args, image)
    try:
        total = float(sf.info(str(audio)).duration)
    except RuntimeError:  # not a soundfile format (mp3 in a video file, ...): the length shows as it goes
        total = None
    fmt = (
        "{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"
        if total is not None
        else "{desc}: {n:.1f} s of audio [{elapsed}]"
    )
    bar = tqdm(total=total, unit="s", unit_scale=False, disable=not args.progress, desc="rendering", bar_format=fmt)
    done = [0.0]

    def progress(seconds: float) -> None:
        bar.update(max(0.0, seconds - done[0]))
        done[0] = seconds

    try:
        return avatar.render(
            audio,
            output,
            fps=args.fps,
            alpha=args.alpha,
            crf=args.crf,
            progress=progress,
            allow_truncated=getattr(args, "allow_truncated", False),
            **session_options(args),
        )
    finally:
        bar.close()


def summary(result: RenderResult) -> str:
    """One line describing a finished render."""
    w, h = result.size
    return (
        f"wrote {result.output}: {result.frames} frames ({result.video_seconds:.2f} s at {result.fps:g} fps, "
        f"{w}x{h}) for {result.audio_seconds:.2f} s of audio, {result.renderer} renderer, "
        f"{result.elapsed_seconds:.1f} s"
    )


def _render(args: argparse.Namespace) -> int:
    from pyavatar.cli.config import resolve
    from pyavatar.outputs.video import check_output

    resolve(args, "render")
    with driving_audio(args.audio, args.audio_file, args.driving) as audio:
        check_output(args.output, [p for p in (args.image, audio, args.driving) if p])
        result = render_with_progress(args, args.image, audio, args.output)
    print(summary(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``render`` command and its options to ``sub``."""
    from pyavatar.cli.config import register_options

    register_options("render", {**AVATAR_DEFAULTS, **FILE_DEFAULTS, "driving": ""})
    p = sub.add_parser(
        "render",
        help="animate a portrait with a speech file (video file or PNG frames)",
        description="Render IMAGE speaking AUDIO to OUT: .mp4/.m4v/.mkv (H.264 + AAC), .mov/.webm (alpha "
        "possible), or a folder of PNG frames. The audio track is the source audio, frame-aligned.",
    )
    p.add_argument("image", help="portrait (jpg, png; RGBA keeps its transparency)")
    p.add_argument(
        "audio", nargs="?", help="speech (wav, flac, ogg, mp3, or the audio of a video file); optional with --driving"
    )
    p.add_argument("--audio", dest="audio_file", metavar="FILE", help="the same as AUDIO (with --driving)")
    p.add_argument("-o", "--output", required=True, help="output video file or folder (never one of the inputs)")
    p.add_argument(
        "--allow-truncated",
        action="store_true",
        help="render audio that decodes shorter than its header says, with a warning",
    )
    add_video_input_option(p, "driving")
    add_avatar_options(p)
    add_file_options(p)
    p.set_defaults(func=_render)
