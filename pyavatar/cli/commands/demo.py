"""``pyavatar demo``: render the bundled portrait speaking the bundled speech to demo.mp4."""

from __future__ import annotations

import argparse


def _demo(args: argparse.Namespace) -> int:
    from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
    from pyavatar.cli.commands.render import render_with_progress, summary
    from pyavatar.cli.config import resolve

    resolve(args, "demo")
    print(f"portrait: {DEMO_PORTRAIT}\nspeech:   {DEMO_SPEECH}")
    result = render_with_progress(args, DEMO_PORTRAIT, DEMO_SPEECH, args.output)
    print(summary(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command and its options to ``sub``."""
    from pyavatar.cli.commands.render import (
        AVATAR_DEFAULTS,
        FILE_DEFAULTS,
        add_avatar_options,
        add_file_options,
    )
    from pyavatar.cli.config import register_options

    register_options("demo", {**AVATAR_DEFAULTS, **FILE_DEFAULTS})
    p = sub.add_parser(
        "demo",
        help="render the bundled portrait and speech to demo.mp4",
        description="Render pyavatar's bundled demo portrait speaking the bundled demo speech with the built-in "
        "defaults (classical renderer, DSP lip sync, idle motion), then print what was done.",
    )
    p.add_argument("-o", "--output", default="demo.mp4", help="output video file or folder (default: demo.mp4)")
    add_avatar_options(p)
    add_file_options(p)
    p.set_defaults(func=_demo)
