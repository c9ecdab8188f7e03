"""The motion-source options shared by ``pyavatar render``, ``live`` and ``demo``.

``--motion`` selects a registered source (:mod:`pyavatar.motion.registry`);
the other options are passed to it, and a source that does not take one says
so. ``--head-amplitude`` and ``--gaze`` are starting controls. The video
inputs (``--driving`` on ``render``, ``--camera`` on ``live``) feed the
``video`` and ``hybrid`` sources; with one of them and no ``--motion``, the
source is ``video``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Motion options (name: default; the default's type is the config-file type).
MOTION_DEFAULTS: dict[str, Any] = {
    "motion": "",
    "motion_weights": "",
    "motion_template": "",
    "hubert_dir": "",
    "steps": 0,
    "cfg": 0.0,
    "head_amplitude": 1.0,
    "gaze": "",
    "weights_config": "",
    "calibrate_neutral": "",
    "region_weights": "",
    "emotion_ref": "",
    "emotion_ref_neutral": "",
    "emotion_ref_regions": "",
}


def add_motion_options(p: argparse.ArgumentParser) -> None:
    """Add the motion options (defaults come from the config or :data:`MOTION_DEFAULTS`)."""
    from pyavatar.motion.registry import motion_source_names

    names = motion_source_names()
    g = p.add_argument_group("motion")
    g.add_argument(
        "--motion",
        choices=sorted(names),
        help="motion source (default: dsp, or video with --driving/--camera): "
        + "; ".join(f"{k}: {v}" for k, v in names.items()),
    )
    g.add_argument("--motion-weights", metavar="FILE", help="the motion source's checkpoint (diffusion, joyvasa)")
    g.add_argument("--motion-template", metavar="FILE", help="JoyVASA motion template (motion_template.pkl)")
    g.add_argument("--hubert-dir", metavar="DIR", help="local speech-encoder folder (JoyVASA's chinese-hubert-base)")
    g.add_argument("--steps", type=int, help="diffusion sampling steps (diffusion; default: the source's)")
    g.add_argument("--cfg", type=float, help="audio guidance scale (diffusion, joyvasa; default: the model's)")
    g.add_argument("--head-amplitude", type=float, help="head-motion amplitude 0..3 (default: 1)")
    g.add_argument("--gaze", metavar="YAW,PITCH", help="hold the eyes at YAW,PITCH degrees (default: idle gaze)")
    g.add_argument(
        "--weights-config",
        metavar="JSON",
        help="LivePortrait model configuration for --weights (default: the released model)",
    )
    g.add_argument(
        "--calibrate-neutral",
        metavar="IMAGE|VIDEO",
        help="video/hybrid: the tracked face at rest (default: the first second of the video)",
    )
    g.add_argument(
        "--region-weights",
        metavar="REGION=W,...",
        help="hybrid: video share 0..1 per region (head, eyes, brows, mouth, expression; "
        "default: head=1,eyes=1,brows=1,mouth=0,expression=1)",
    )

    g.add_argument(
        "--emotion-ref",
        metavar="IMAGE|VIDEO",
        help="the expression of this face (relative to its neutral) as the emotion offset, scaled by --intensity",
    )
    g.add_argument("--emotion-ref-neutral", metavar="IMAGE", help="the reference face at rest (needed for an image)")
    g.add_argument(
        "--emotion-ref-regions",
        metavar="REGION=W,...",
        help="weight 0..1 of the reference per region (brows, eyes, mouth, expression; default: all 1)",
    )


def add_video_input_option(p: argparse.ArgumentParser, which: str) -> None:
    """``--driving VIDEO`` (``which="driving"``, offline) or ``--camera INDEX|NAME`` (``which="camera"``, live)."""
    g = p.add_argument_group("video input")
    if which == "driving":
        g.add_argument(
            "--driving",
            metavar="VIDEO",
            help="drive the face with this video's tracked face "
            "(every frame, resampled to --fps); its audio track is the audio unless AUDIO/--audio",
        )
    else:
        g.add_argument(
            "--camera",
            metavar="INDEX|NAME",
            help="drive the face with a webcam's tracked face "
            "(index or part of its name; without --mic/--audio the video source needs no audio)",
        )


def parse_region_weights(text: str, option: str = "--region-weights") -> dict[str, float] | None:
    """``"head=1,mouth=0.5"`` → a dict (empty → None); regions and ranges are checked by the source."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        region, sep, value = part.partition("=")
        try:
            out[region.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"{option}: expected REGION=WEIGHT,..., got {part!r} in {text!r}")
    return out


def parse_gaze(text: str) -> tuple[float, float] | None:
    """``"yaw,pitch"`` → a tuple (empty → None)."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--gaze: expected YAW,PITCH in degrees, got {text!r}")
    try:
        yaw, pitch = (float(v) for v in parts)
    except ValueError:
        raise ValueError(f"--gaze: expected two numbers YAW,PITCH, got {text!r}") from None
    return yaw, pitch


def check_video_motion(args: argparse.Namespace) -> str:
    """The motion source name the options select (video when a video input is given and none is named).

    Raises ValueError when a video input and the source do not go together.
    """
    video = bool(getattr(args, "driving", "") or getattr(args, "camera", ""))
    motion = args.motion or ("video" if video else "dsp")
    if video and motion not in ("video", "hybrid", "video-keypoints"):
        raise ValueError(
            f"--driving/--camera drive the video, hybrid or video-keypoints motion source, not --motion {motion}"
        )
    if args.calibrate_neutral and not video:
        raise ValueError("--calibrate-neutral is for face tracking: give --driving VIDEO or --camera INDEX|NAME")
    return motion


def motion_session_options(args: argparse.Namespace) -> dict[str, Any]:
    """Session keyword arguments of the motion options."""
    options = {
        "weights": args.motion_weights or None,
        "template": args.motion_template or None,
        "hubert_dir": args.hubert_dir or None,
        "steps": args.steps or None,
        "cfg": args.cfg or None,
        "driving": getattr(args, "driving", "") or None,
        "camera": getattr(args, "camera", "") or None,
        "neutral": args.calibrate_neutral or None,
        "region_weights": parse_region_weights(args.region_weights),
    }
    motion = check_video_motion(args)
    if args.emotion_ref:
        from pyavatar.motion.sources.expression import ReferenceExpression

        options["expression"] = ReferenceExpression.from_file(
            args.emotion_ref,
            neutral=args.emotion_ref_neutral or None,
            regions=parse_region_weights(args.emotion_ref_regions, "--emotion-ref-regions"),
        )
    elif args.emotion_ref_neutral or args.emotion_ref_regions:
        raise ValueError("--emotion-ref-neutral/--emotion-ref-regions need --emotion-ref IMAGE|VIDEO")
    return {
        "motion": motion,
        "motion_options": {k: v for k, v in options.items() if v is not None},
        "head_amplitude": args.head_amplitude,
        "gaze": parse_gaze(args.gaze),
    }


@contextlib.contextmanager
def driving_audio(audio: str | None, audio_file: str | None, driving: str | None) -> Iterator[str]:
    """The audio of a render: AUDIO or ``--audio``, else the driving video's audio track (silence without one)."""
    if audio and audio_file:
        raise ValueError(f"give the audio once: AUDIO {audio!r} or --audio {audio_file!r}")
    if audio or audio_file:
        yield str(audio or audio_file)
        return
    if not driving:
        raise ValueError("give the speech AUDIO (or --driving VIDEO, whose audio track is then used)")
    from pyavatar.video import probe_video

    info = probe_video(driving)
    if info.has_audio:
        yield driving
        return
    import numpy as np
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="pyavatar-driving-") as tmp:
        silent = Path(tmp) / "silence.wav"
        sf.write(silent, np.zeros(max(1, round(info.duration_s * 16_000)), np.float32), 16_000)
        yield str(silent)
