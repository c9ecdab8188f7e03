"""OSC monitor: print what pyavatar sends (raw /pyavatar/* namespace or VMC) and optionally steer it.

    pyavatar live portrait.png --osc 127.0.0.1:9000 &      # or: --vmc 127.0.0.1:39539
    python samples/03_osc_monitor.py --port 9000
    python samples/03_osc_monitor.py --port 39539 --vmc
    python samples/03_osc_monitor.py --port 9000 --set-emotion happy   # also send a control message

Uses python-osc (pip install python-osc) as an independent receiver.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

FACE = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_z", "jaw_open")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--vmc", action="store_true", help="decode the VMC stream instead of /pyavatar/*")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds to listen (default: until Ctrl-C)")
    ap.add_argument("--set-emotion", help="send /pyavatar/set/emotion to the control port first")
    ap.add_argument("--control", default="127.0.0.1:39541")
    args = ap.parse_args()

    latest: dict[str, Any] = {}
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def on_message(address: str, *values: Any) -> None:
        with lock:
            counts[address] = counts.get(address, 0) + 1
            key = f"{address} {values[0]}" if address == "/VMC/Ext/Blend/Val" else address
            latest[key] = values

    d = Dispatcher(strict_timing=False)
    d.set_default_handler(on_message)
    server = ThreadingOSCUDPServer(("0.0.0.0", args.port), d)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.set_emotion:
        host, port = args.control.rsplit(":", 1)
        SimpleUDPClient(host, int(port)).send_message("/pyavatar/set/emotion", [args.set_emotion, 0.8])
    print(f"listening on UDP :{args.port} ({'VMC' if args.vmc else '/pyavatar/*'}); Ctrl-C stops")
    end = time.monotonic() + args.duration if args.duration else float("inf")
    try:
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            with lock:
                snapshot, n = dict(latest), dict(counts)
                counts.clear()
            if args.vmc:
                shapes = {k.split(" ", 1)[1]: v[1] for k, v in snapshot.items() if k.startswith("/VMC/Ext/Blend/Val")}
                top = sorted(shapes.items(), key=lambda kv: -kv[1])[:5]
                print(f"{n.get('/VMC/Ext/T', 0)} frames/s  " + "  ".join(f"{k} {v:.2f}" for k, v in top))
            elif "/pyavatar/face" in snapshot:
                face = dict(zip(FACE, snapshot["/pyavatar/face"][: len(FACE)], strict=True))
                emo = snapshot.get("/pyavatar/emotion", ("?", 0.0))
                stats = snapshot.get("/pyavatar/stats")
                line = (
                    f"{n.get('/pyavatar/face', 0)} msgs/s  jaw {face['jaw_open']:.2f}  yaw {face['head_yaw']:+5.1f}"
                    f"  emotion {emo[0]} {emo[1]:.2f}"
                )
                if stats:
                    line += f"  | latency p95 {stats[1]:.1f} ms fps {stats[4]:.1f}"
                print(line, flush=True)
            else:
                print("waiting for data ...", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
