"""Microphone capture through PortAudio (sounddevice).

The PortAudio callback runs on a driver thread and only copies blocks into a
bounded queue (oldest dropped and counted when the consumer falls behind).
Iteration raises :class:`AudioDeviceError` when the device stops delivering
audio for ``stall_timeout`` seconds or the stream aborts, so a vanished device
never hangs the reader.

Through PulseAudio (ALSA's ``pulse``/``default`` devices) a removed source does
not end the stream: the sound server moves it to another source. PortAudio
cannot see that, so :class:`MicSource` asks the server (``pactl``) once a second
which source its stream records; a change is logged as a warning and counted in
``stats.device_changes``, and :attr:`MicSource.route` names the current source.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from pyavatar.audio.sources import AudioDeviceError, AudioSource
from pyavatar.packets import NS_PER_S
from pyavatar.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputDevice:
    """One capture device as PortAudio reports it."""

    index: int
    name: str
    channels: int
    default_rate: int
    hostapi: str


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
    except (ImportError, OSError) as e:  # OSError: PortAudio library missing
        raise AudioDeviceError(
            f'microphone input needs sounddevice and PortAudio: pip install "pyavatar[mic]" '
            f"(and on Debian/Ubuntu `apt install libportaudio2`) ({e})"
        ) from e
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel."""
    sd = _sounddevice()
    apis = [a["name"] for a in sd.query_hostapis()]
    return [
        InputDevice(
            int(d["index"]),
            str(d["name"]),
            int(d["max_input_channels"]),
            int(d["default_samplerate"]),
            apis[d["hostapi"]] if d["hostapi"] < len(apis) else "?",
        )
        for d in sd.query_devices()
        if d["max_input_channels"] > 0
    ]


def _describe(devices: list[InputDevice]) -> str:
    if not devices:
        return "no input devices found"
    return "available input devices: " + "; ".join(
        f"[{d.index}] {d.name!r} ({d.channels} ch, {d.default_rate} Hz, {d.hostapi})" for d in devices
    )


def resolve_device(device: int | str | None) -> InputDevice:
    """The input device for an index, a case-insensitive name substring, or ``None`` (system default).

    An exact name match wins over substring matches; among several substring
    matches the lowest index is used.
    """
    devices = list_input_devices()
    if device is None:
        default = _sounddevice().default.device[0]
        matches = [d for d in devices if d.index == default] or devices[:1]
    elif isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        matches = [d for d in devices if d.index == int(device)]
    else:
        key = device.lower()
        matches = [d for d in devices if d.name.lower() == key] or [d for d in devices if key in d.name.lower()]
    if not matches:
        raise AudioDeviceError(f"input device {device!r} not found; {_describe(devices)}")
    return matches[0]


def pulse_capture_sources(pid: int | None = None) -> tuple[str, ...] | None:
    """Names of the PulseAudio sources that process ``pid``'s capture streams record (None: no server/pactl)."""
    if shutil.which("pactl") is None:
        return None
    pid = os.getpid() if pid is None else pid
    try:
        outputs = json.loads(
            subprocess.run(
                ["pactl", "-f", "json", "list", "source-outputs"], capture_output=True, text=True, timeout=5, check=True
            ).stdout
            or "[]"
        )
        sources = json.loads(
            subprocess.run(
                ["pactl", "-f", "json", "list", "short", "sources"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout
            or "[]"
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    names = {s.get("index"): s.get("name", "?") for s in sources if isinstance(s, dict)}
    mine = [
        o
        for o in outputs
        if isinstance(o, dict) and str(o.get("properties", {}).get("application.process.id")) == str(pid)
    ]
    return tuple(sorted(str(names.get(o.get("source"), o.get("source"))) for o in mine))


class MicSource(AudioSource):
    """Live capture from ``device`` (index, name substring or ``None`` for the default).

    Args:
        sample_rate: capture rate; ``None`` uses the device's native rate.
        channels: channels to open; ``None`` opens all of the device's channels (at most 2).
        channel: channel to keep; ``None`` downmixes.
        block_ms: PortAudio block length.
        max_blocks: queue bound (oldest blocks dropped beyond it, counted in ``stats.dropped``).
        stall_timeout: seconds without audio after which the device counts as gone.
        warm_up: extra time allowed for the first block (PulseAudio through ALSA takes ~1.3 s).
        route_poll_s: how often to ask PulseAudio which source the stream records (None: never).
    """

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        channel: int | None = None,
        block_ms: float = 10.0,
        max_blocks: int = 200,
        stall_timeout: float = 2.0,
        warm_up: float = 3.0,
        route_poll_s: float | None = 1.0,
    ) -> None:
        super().__init__(channel=channel, start_pts_ns=0)
        self.device = resolve_device(device)
        self.name = f"input device [{self.device.index}] {self.device.name!r}"
        self._rate = int(sample_rate or self.device.default_rate)
        self._channels = channels or min(self.device.channels, 2)
        if not 1 <= self._channels <= self.device.channels:
            raise AudioDeviceError(f"{self.name}: channels={channels} but the device has {self.device.channels}")
        self._block = max(1, round(block_ms * self._rate / 1000))
        self._queue: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(maxsize=max_blocks)
        self._captured = 0  # samples delivered by the driver so far (callback thread)
        self._position = 0  # stream position of the block being yielded
        self._stall = stall_timeout
        self._warm_up = warm_up
        self._finished = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()
        self._route_poll_s = route_poll_s
        self._route_stop = threading.Event()
        self._route_worker: Worker | None = None
        #: The PulseAudio source(s) the stream records (None until known, or without PulseAudio).
        self.route: tuple[str, ...] | None = None

    @property
    def sample_rate(self) -> int:
        """Sample rate of the captured audio (Hz)."""
        return self._rate

    def _chunk_pts(self) -> int:
        # dropped blocks leave gaps: stamp each block with its capture position
        return self.start_pts_ns + self._position * NS_PER_S // self._rate

    def _callback(self, indata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        if status.input_overflow:
            self.stats.overflows += 1
        if self._captured == 0:  # the stream clock starts with the first block, not at start()
            self.start_pts_ns = time.monotonic_ns() - frames * NS_PER_S // self._rate
        item = (self._captured, indata.copy())
        self._captured += frames
        with self._lock:
            while True:
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    _, dropped = self._queue.get_nowait()
                    self.stats.dropped += len(dropped)

    def start(self) -> None:
        """Open and start the stream (iteration does it on first use)."""
        if self._stream is not None:
            return
        sd = _sounddevice()
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                samplerate=self._rate,
                channels=self._channels,
                dtype="float32",
                blocksize=self._block,
                callback=self._callback,
                finished_callback=self._finished.set,
            )
            self._stream.start()
            if self._route_poll_s and shutil.which("pactl") is not None:
                self._route_stop.clear()
                self._route_worker = Worker("mic-route", self._watch_route, stop=self._route_stop, join_timeout=10.0)
                self._route_worker.start()
        except Exception as e:  # PortAudioError and friends: report the device and the alternatives
            self._stream = None
            raise AudioDeviceError(
                f"cannot open {self.name} at {self._rate} Hz x {self._channels} ch: {e}; "
                f"{_describe(list_input_devices())}"
            ) from e

    def _blocks(self) -> Iterator[np.ndarray]:
        self.start()
        last = time.monotonic() + self._warm_up  # some devices deliver their first block late
        while True:
            try:
                self._position, block = self._queue.get(timeout=min(self._stall, 0.1))
            except queue.Empty:
                pass
            else:
                yield block
                last = time.monotonic()
                continue
            if self._stream is None:
                return  # closed by the application
            if self._finished.is_set():
                raise AudioDeviceError(f"{self.name} stopped: the stream ended (device unplugged or reset?)")
            if time.monotonic() - last > self._stall:
                raise AudioDeviceError(f"{self.name} delivered no audio for {self._stall:.1f} s (device gone?)")

    def _watch_route(self) -> None:
        """Poll PulseAudio for the source this stream records; log and count every move."""
        assert self._route_poll_s is not None
        while not self._route_stop.wait(self._route_poll_s):
            if self._stream is None or self._finished.is_set():
                return
            now = pulse_capture_sources()
            if now is None:
                return  # no PulseAudio server answers: nothing can move the stream
            if not now:
                continue  # the stream is not (yet) known to the server
            if self.route is not None and now != self.route:
                self.stats.device_changes += 1
                log.warning(
                    "%s: the sound server moved the capture stream from %s to %s (source removed or "
                    "changed); the audio now comes from another device",
                    self.name,
                    ", ".join(self.route),
                    ", ".join(now),
                )
            self.route = now

    def close(self) -> None:
        """Stop the stream and the route watcher; idempotent."""
        worker, self._route_worker = self._route_worker, None
        err = worker.join() if worker is not None else None
        if err is not None:  # the audio itself was not affected: say so, do not fail the close
            log.error("%s: watching the capture route failed: %s", self.name, err)
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as e:  # the device may already be gone
                log.debug("closing %s: %s", self.name, e)
