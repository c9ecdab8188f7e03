"""Microphone source against a fake PortAudio: device lookup, errors, downmix, vanishing devices."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from pyavatar.audio import mic
from pyavatar.audio.sources import AudioDeviceError

DEVICES = [
    {"index": 0, "name": "Speakers", "max_input_channels": 0, "default_samplerate": 48000.0, "hostapi": 0},
    {"index": 1, "name": "USB Mic (Yeti)", "max_input_channels": 2, "default_samplerate": 48000.0, "hostapi": 0},
    {"index": 2, "name": "pulse", "max_input_channels": 32, "default_samplerate": 44100.0, "hostapi": 0},
]


class FakeStream:
    """Delivers ``blocks`` from a thread, then either stops silently or finishes (aborts)."""

    def __init__(self, blocks: int, finish: bool, **kw: object) -> None:
        self.kw, self.blocks, self.finish = kw, blocks, finish
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.closed = False

    def _run(self) -> None:
        n, ch = self.kw["blocksize"], self.kw["channels"]
        status = SimpleNamespace(input_overflow=False)
        for i in range(self.blocks):
            block = np.full((n, ch), 0.2, np.float32)
            block[:, 0] = 0.4 + i * 0.01
            self.kw["callback"](block, n, None, status)
            time.sleep(0.002)
        if self.finish:
            self.kw["finished_callback"]()

    def start(self) -> None:
        self.thread.start()

    def abort(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _fake(monkeypatch: pytest.MonkeyPatch, blocks: int = 5, finish: bool = False, fail_open: bool = False) -> list:
    made: list[FakeStream] = []

    def input_stream(**kw: object) -> FakeStream:
        if fail_open:
            raise RuntimeError("Invalid sample rate [PaErrorCode -9997]")
        made.append(FakeStream(blocks, finish, **kw))
        return made[-1]

    sd = SimpleNamespace(
        query_devices=lambda: DEVICES,
        query_hostapis=lambda: [{"name": "ALSA"}],
        default=SimpleNamespace(device=(2, 0)),
        InputStream=input_stream,
    )
    monkeypatch.setattr(mic, "_sounddevice", lambda: sd)
    return made


def test_device_lookup_by_index_name_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch)
    assert [d.index for d in mic.list_input_devices()] == [1, 2]
    assert mic.resolve_device("yeti").index == 1
    assert mic.resolve_device(2).name == "pulse"
    assert mic.resolve_device("1").index == 1
    assert mic.resolve_device(None).index == 2
    with pytest.raises(AudioDeviceError) as e:
        mic.resolve_device("webcam")
    assert "'webcam' not found" in str(e.value) and "[1] 'USB Mic (Yeti)'" in str(e.value)
    with pytest.raises(AudioDeviceError, match="not found"):
        mic.resolve_device(0)  # an output-only device


def test_open_failure_names_device_and_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, fail_open=True)
    src = mic.MicSource("yeti", sample_rate=12345)
    with pytest.raises(AudioDeviceError) as e:
        next(iter(src))
    msg = str(e.value)
    assert "USB Mic (Yeti)" in msg and "12345 Hz" in msg and "available input devices" in msg


def test_downmix_channel_pick_and_clean_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _fake(monkeypatch, blocks=5, finish=True)
    src = mic.MicSource("yeti", channel=1, block_ms=10, stall_timeout=0.5)
    assert src.sample_rate == 48000
    got = []
    with pytest.raises(AudioDeviceError, match="stream ended"):
        for chunk in src:
            got.append(chunk)
    assert len(got) == 5 and all(np.all(c.samples == np.float32(0.2)) for c in got)
    assert got[1].pts_ns - got[0].pts_ns == 10_000_000
    src.close()
    assert made[0].closed

    _fake(monkeypatch, blocks=3, finish=True)
    down = mic.MicSource("yeti", stall_timeout=0.5)
    first = next(iter(down))
    np.testing.assert_allclose(first.samples, (0.4 + 0.2) / 2, rtol=1e-6)
    down.close()


def test_device_that_goes_silent_raises_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, blocks=2, finish=False)
    src = mic.MicSource(1, stall_timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(AudioDeviceError, match="no audio for 0.3 s"):
        list(src)
    assert time.monotonic() - t0 < 2.0


def test_overflowing_consumer_drops_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, blocks=10, finish=True)
    src = mic.MicSource(1, max_blocks=3, stall_timeout=0.5, channel=0)
    src.start()
    time.sleep(0.2)
    got = []
    with pytest.raises(AudioDeviceError):
        for c in src:
            got.append(c)
    assert len(got) == 3 and src.stats.dropped == 7 * 480
    assert got[0].samples[0] == pytest.approx(0.47)  # the newest blocks survive
    assert got[0].pts_ns - src.start_pts_ns == 7 * 10_000_000  # stamped where they were captured
