"""Streamer setup: microphone -> virtual webcam (for OBS, Zoom, Discord) + VMC (for VSeeFace, Unity, Unreal).

    python samples/02_streamer.py portrait.png                     # default mic, camera, VMC to :39539
    python samples/02_streamer.py portrait.png --mic 2 --vmc-port 39540 --cam-size 1280x720
    python samples/02_streamer.py --audio speech.wav --no-virtualcam --duration 5   # no mic, no camera

Emotions, lip scale, gaze and mute can be changed while it runs with OSC
messages to 127.0.0.1:39541 (``/pyavatar/set/emotion "happy" 0.8``; see
samples/03_osc_monitor.py and docs/sdk.md). Ctrl-C stops.
"""

from __future__ import annotations

import argparse
import time

from pyavatar import Avatar
from pyavatar.assets import DEMO_PORTRAIT
from pyavatar.outputs import VirtualCamSink, VmcSender


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(DEMO_PORTRAIT))
    ap.add_argument("--mic", default=None, help="input device index or name (default: system default)")
    ap.add_argument("--audio", help="play this file in real time instead of using a microphone")
    ap.add_argument("--renderer", default=None)
    ap.add_argument("--virtualcam", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--cam-size", default="1280x720")
    ap.add_argument("--vmc-host", default="127.0.0.1")
    ap.add_argument("--vmc-port", type=int, default=39539, help="39539 = renderer (marionette), 39540 = performer")
    ap.add_argument("--control-port", type=int, default=39541)
    ap.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    args = ap.parse_args()

    avatar = Avatar.from_image(args.image, renderer=args.renderer)
    outputs = [VmcSender(args.vmc_host, args.vmc_port, vocabularies=("vrm0", "arkit"))]
    if args.virtualcam:
        w, h = (int(v) for v in args.cam_size.split("x"))
        outputs.append(VirtualCamSink(w, h, background="#00ff00"))
    with avatar.session(fps=30, outputs=outputs) as session:
        if args.audio:
            session.start(file=args.audio, control=args.control_port)
        else:
            session.start(mic=args.mic, control=args.control_port)
        print(
            f"streaming {session.width}x{session.height} at 30 fps; VMC to {args.vmc_host}:{args.vmc_port}; "
            f"control on {session.control_address}"
        )
        end = time.monotonic() + args.duration if args.duration else float("inf")
        try:
            while not session.wait(1.0) and time.monotonic() < end:
                s = session.stats()
                print(f"latency p95 {s['p95_ms']:5.1f} ms | fps {s['fps_out']:4.1f} | drops {s['drops']}", flush=True)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
