"""Render a portrait speaking an audio file to a video (H.264 + AAC) with the SDK.

    python samples/01_offline_render.py                       # bundled portrait and speech -> talk.mp4
    python samples/01_offline_render.py face.jpg speech.wav -o out.mp4 --emotion happy

Same as `pyavatar render`, written out: Avatar.from_image prepares the
portrait once, Avatar.render streams the audio through lip sync, idle motion
and the renderer, and muxes the source audio frame-aligned.
"""

from __future__ import annotations

import argparse

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(DEMO_PORTRAIT))
    ap.add_argument("audio", nargs="?", default=str(DEMO_SPEECH))
    ap.add_argument("-o", "--output", default="talk.mp4", help="video file (.mp4, .mov, .webm) or a folder for PNGs")
    ap.add_argument("--renderer", default=None, help="renderer name (default: classical)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--emotion", default="neutral")
    args = ap.parse_args()

    avatar = Avatar.from_image(args.image, renderer=args.renderer)
    result = avatar.render(
        args.audio,
        args.output,
        fps=args.fps,
        emotion=args.emotion,
        intensity=0.7,
        progress=lambda s: print(f"\r{s:6.2f} s", end="", flush=True),
    )
    print(
        f"\n{result.output}: {result.frames} frames, {result.video_seconds:.2f} s video for "
        f"{result.audio_seconds:.2f} s audio ({result.renderer}, {result.elapsed_seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
