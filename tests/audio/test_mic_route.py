"""A capture stream that PulseAudio moves to another source (its source was removed) is reported, not silent."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from pyavatar.audio.mic import MicSource, pulse_capture_sources

SOURCE = "pyavatar_mic"


def test_moved_capture_stream_is_logged_and_counted(virtual_mic, caplog: pytest.LogCaptureFixture) -> None:
    src = MicSource("pulse", sample_rate=16000, channels=1, route_poll_s=0.25, stall_timeout=5.0)
    stop = threading.Event()
    blocks = [0]

    def read() -> None:
        for _ in src:
            blocks[0] += 1
            if stop.is_set():
                return

    reader = threading.Thread(target=read)
    caplog.set_level(logging.WARNING, logger="pyavatar.audio.mic")
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while (src.route is None or blocks[0] == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert src.route == (SOURCE,) and pulse_capture_sources() == (SOURCE,)
        remap = next(
            line.split()[0]
            for line in virtual_mic.pactl("list", "short", "modules").splitlines()
            if "module-remap-source" in line
        )
        virtual_mic.pactl("unload-module", remap)  # pull the microphone's source: PulseAudio moves the stream
        while src.stats.device_changes == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert src.stats.device_changes == 1 and src.route != (SOURCE,)
        assert any("moved the capture stream from pyavatar_mic" in r.getMessage() for r in caplog.records)
        n = blocks[0]
        while blocks[0] <= n + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert blocks[0] > n + 10  # the stream goes on (from another source), as PulseAudio decided
    finally:
        stop.set()
        reader.join(10)
        src.close()
