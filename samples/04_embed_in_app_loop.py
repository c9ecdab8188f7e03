"""Embed pyavatar in another application's main loop (a game loop, a GUI timer, a video pipeline).

    python samples/04_embed_in_app_loop.py [speech.wav] [--renderer NAME] [--ticks N]

The app owns the loop and the clock: every tick it hands pyavatar the audio
that arrived since the last tick and gets back the frames that audio
completed, synchronously, in its own thread (no pyavatar threads). Controls
can be changed between ticks and take effect from the next frame.
"""

from __future__ import annotations

import argparse
import time

import soundfile as sf

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.face.params import NAMES

TICK_HZ = 30
JAW = NAMES.index("jaw_open")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audio", nargs="?", default=str(DEMO_SPEECH))
    ap.add_argument("--renderer", default=None)
    ap.add_argument("--ticks", type=int, default=0, help="stop after this many ticks (default: the whole file)")
    ap.add_argument("--realtime", action="store_true", help="sleep like a real app loop (default: as fast as possible)")
    args = ap.parse_args()

    audio, rate = sf.read(args.audio, dtype="float32", always_2d=False)
    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer=args.renderer)
    session = avatar.session(fps=30)
    per_tick = rate // TICK_HZ
    ticks = len(audio) // per_tick + 1 if not args.ticks else args.ticks
    shown = 0
    for tick in range(ticks):
        t0 = time.perf_counter()
        block = audio[tick * per_tick : (tick + 1) * per_tick]  # "the audio that arrived this tick"
        if tick == ticks // 2:
            session.set_emotion("happy", 0.8)  # e.g. a game event
        frames = session.feed_audio(block, rate) if len(block) else []
        for frame in frames:  # draw them: here, print the mouth opening as a bar
            jaw = float(frame.motion.params[JAW])
            shown += 1
            if shown % 5 == 0:
                print(f"tick {tick:4d} frame {frame.index:4d} {'#' * int(jaw * 40):<40} {frame.motion.emotion}")
        if args.realtime:
            time.sleep(max(0.0, 1 / TICK_HZ - (time.perf_counter() - t0)))
    shown += len(session.end_audio())
    s = session.stats()
    print(f"{shown} frames in {ticks} ticks; render p50 {s['stages_ms']['render']['p50']:.2f} ms per batch")


if __name__ == "__main__":
    main()
