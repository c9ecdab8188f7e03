"""The motion-source options shared by ``pyavatar render``, ``live`` and ``demo``.

``--motion`` selects a registered source (:mod:`pyavatar.motion.registry`);
the other options are passed to it, and a source that does not take one says
so. ``--head-amplitude`` and ``--gaze`` are starting controls.
"""

from __future__ import annotations

import argparse
from typing import Any

#: Motion options (name: default; the default's type is the config-file type).
MOTION_DEFAULTS: dict[str, Any] = {
    "motion": "dsp", "motion_weights": "", "motion_template": "", "hubert_dir": "", "steps": 0, "cfg": 0.0,
    "head_amplitude": 1.0, "gaze": "", "weights_config": "",
}  # fmt: skip


def add_motion_options(p: argparse.ArgumentParser) -> None:
    """Add the motion options (defaults come from the config or :data:`MOTION_DEFAULTS`)."""
    from pyavatar.motion.registry import motion_source_names

    names = motion_source_names()
    g = p.add_argument_group("motion")
    g.add_argument("--motion", choices=sorted(names),
                   help="motion source: " + "; ".join(f"{k}: {v}" for k, v in names.items()))  # fmt: skip
    g.add_argument("--motion-weights", metavar="FILE", help="the motion source's checkpoint (diffusion, joyvasa)")
    g.add_argument("--motion-template", metavar="FILE", help="JoyVASA motion template (motion_template.pkl)")
    g.add_argument("--hubert-dir", metavar="DIR", help="local speech-encoder folder (JoyVASA's chinese-hubert-base)")
    g.add_argument("--steps", type=int, help="diffusion sampling steps (diffusion; default: the source's)")
    g.add_argument("--cfg", type=float, help="audio guidance scale (diffusion, joyvasa; default: the model's)")
    g.add_argument("--head-amplitude", type=float, help="head-motion amplitude 0..3 (default: 1)")
    g.add_argument("--gaze", metavar="YAW,PITCH", help="hold the eyes at YAW,PITCH degrees (default: idle gaze)")
    g.add_argument("--weights-config", metavar="JSON",
                   help="LivePortrait model configuration for --weights (default: the released model)")  # fmt: skip


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


def motion_session_options(args: argparse.Namespace) -> dict[str, Any]:
    """Session keyword arguments of the motion options."""
    options = {"weights": args.motion_weights or None, "template": args.motion_template or None,
               "hubert_dir": args.hubert_dir or None, "steps": args.steps or None, "cfg": args.cfg or None}  # fmt: skip
    return {"motion": args.motion, "motion_options": {k: v for k, v in options.items() if v is not None},
            "head_amplitude": args.head_amplitude, "gaze": parse_gaze(args.gaze)}  # fmt: skip
