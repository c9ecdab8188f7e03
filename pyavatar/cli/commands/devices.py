"""``pyavatar devices``: list audio capture devices."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from pyavatar.audio.mic import list_input_devices
    from pyavatar.audio.sources import AudioDeviceError

    try:
        devices = list_input_devices()
    except AudioDeviceError as e:
        print(f"error: {e}")
        return 1
    if not devices:
        print("no audio input devices found")
        return 1
    for d in devices:
        print(f"[{d.index:>2}] {d.name}  ({d.channels} ch, {d.default_rate} Hz, {d.hostapi})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list audio input devices (microphones)")
    p.set_defaults(func=_run)
