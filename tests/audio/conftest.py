"""A PulseAudio virtual microphone for capture tests (skipped when PulseAudio/PortAudio/espeak-ng are missing).

A private PulseAudio server (no config, no idle exit) gets a null sink
``pyavatar_spk``; a remapped source ``pyavatar_mic`` over its monitor is the
default source, so audio played into the sink with ``paplay`` is what a capture
stream on PortAudio's ALSA ``pulse`` device records.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SINK = "pyavatar_spk"
SOURCE = "pyavatar_mic"
WARM_UP_S = 2.5


@dataclass
class VirtualMic:
    """A running PulseAudio server with a sink to play into and the source that records it."""

    runtime_dir: Path
    server: subprocess.Popen

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True, timeout=10).stdout

    def play(self, wav: Path) -> subprocess.Popen:
        """Start playing ``wav`` into the virtual microphone (returns the paplay process)."""
        return subprocess.Popen(["paplay", "-d", SINK, str(wav)])

    def unplug(self) -> None:
        """Make the capture device vanish: stop the server (PulseAudio would move a stream whose
        source is unloaded to another source instead of failing it). Use last in a module."""
        self.server.terminate()


def _missing() -> str | None:
    for tool in ("pulseaudio", "pactl", "paplay", "pacat"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian: pulseaudio pulseaudio-utils)"
    try:
        import sounddevice  # noqa: F401  (PortAudio is re-scanned once the server runs)
    except (ImportError, OSError) as e:
        return f"sounddevice/PortAudio unavailable: {e}"
    try:
        from pyavatar.evaluation.espeak import Espeak

        Espeak()
    except Exception as e:  # EspeakError or a broken library
        return f"espeak-ng unavailable: {e}"
    return None


@pytest.fixture(scope="module")
def virtual_mic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualMic]:
    reason = _missing()
    if reason:
        pytest.skip(f"virtual microphone: {reason}")
    runtime = tmp_path_factory.mktemp("pulse")
    runtime.chmod(0o700)
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    os.environ["PULSE_SERVER"] = f"unix:{runtime}/pulse/native"
    log = open(runtime / "pulseaudio.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--log-target=stderr",
            "--load=module-native-protocol-unix",
            f"--load=module-null-sink sink_name={SINK} rate=48000 channels=2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"virtual microphone: pulseaudio did not start: {(runtime / 'pulseaudio.log').read_text()}")
            time.sleep(0.1)
        subprocess.run(
            ["pactl", "load-module", "module-remap-source", f"master={SINK}.monitor", f"source_name={SOURCE}"],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(["pactl", "set-default-source", SOURCE], check=True)
        subprocess.run(["pactl", "set-default-sink", SINK], check=True)
        import sounddevice as sd

        sd._terminate()  # PortAudio lists ALSA's "pulse" device only if a server answered at initialisation
        sd._initialize()
        # keep-alive: a silent stream keeps the sink (and so the microphone) running from the start
        keep_alive = subprocess.Popen(
            ["pacat", "--playback", "-d", SINK, "--raw", "--rate=48000", "--channels=2", "--format=s16le", "/dev/zero"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(WARM_UP_S)
        yield VirtualMic(runtime, server)
        keep_alive.terminate()
        keep_alive.wait(timeout=5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
