"""``pyavatar devices``: list audio capture devices."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from pyavatar.audio.mic import list_input_devices
    from pyavatar.cli.errors import CliError

    devices = list_input_devices()
    if not devices:
        raise CliError(
            "no audio input devices found (is PortAudio installed and a microphone connected? "
            "`pyavatar live --audio FILE` runs without one)"
        )
    for d in devices:
        print(f"[{d.index:>2}] {d.name}  ({d.channels} ch, {d.default_rate} Hz, {d.hostapi})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``devices`` command and its options to ``sub``."""
    p = sub.add_parser(
        "devices",
        help="list audio input devices (microphones)",
        description="List the audio input devices PortAudio sees, with index, name, channels, default sample "
        "rate and host API. Pass an index or a name substring to `pyavatar live --mic` or `calibrate --device`.",
    )
    p.set_defaults(func=_run)
