"""Every numbered sample runs (probe renderer, short inputs, loopback receivers)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pyavatar.assets import DEMO_SPEECH

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _run(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(SAMPLES / name), *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    path = tmp_path_factory.mktemp("samples") / "short.wav"
    sf.write(path, x[: 2 * rate], rate)
    return path


def test_01_offline_render(tmp_path: Path, short_wav: Path) -> None:
    out = tmp_path / "s01.mp4"
    r = _run(
        "01_offline_render.py",
        str(SAMPLES.parent / "pyavatar/assets/demo_portrait.jpg"),
        str(short_wav),
        "-o",
        str(out),
        "--renderer",
        "probe",
    )
    assert out.is_file() and "60 frames" in r.stdout


def test_02_streamer(short_wav: Path) -> None:
    pytest.importorskip("pythonosc")
    from tests.outputs.osc_receiver import Receiver

    with Receiver() as rx:
        r = _run(
            "02_streamer.py",
            "--audio",
            str(short_wav),
            "--no-virtualcam",
            "--renderer",
            "probe",
            "--vmc-port",
            str(rx.port),
            "--control-port",
            str(_free_port()),
            "--duration",
            "4",
        )
        time.sleep(0.1)
    assert "latency p95" in r.stdout
    assert len(rx.of("/VMC/Ext/Blend/Apply")) > 60


def test_03_osc_monitor() -> None:
    pytest.importorskip("pythonosc")
    from pyavatar.face.params import NAMES
    from pyavatar.outputs.raw_osc import RawOscSender
    from pyavatar.packets import MotionFrame
    from pyavatar.runtime.frames import StreamInfo

    port = _free_port()
    sender = RawOscSender("127.0.0.1", port, rate=30)
    params = np.zeros(len(NAMES), np.float32)
    params[NAMES.index("jaw_open")] = 0.5

    def send() -> None:
        time.sleep(1.0)  # the monitor is listening by then
        sender.start(StreamInfo(8, 8, 30.0))
        sender.write_motion(MotionFrame(0, 0, 30.0, 0, params, np.zeros(5, np.float32), 1.0, "relaxed", 0.4))
        time.sleep(2.0)
        sender.close()

    t = threading.Thread(target=send)
    t.start()
    r = _run(
        "03_osc_monitor.py",
        "--port",
        str(port),
        "--duration",
        "3.5",
        "--control",
        f"127.0.0.1:{_free_port()}",
        "--set-emotion",
        "happy",
    )
    t.join()
    assert "jaw 0.50" in r.stdout and "emotion relaxed 0.40" in r.stdout


def test_04_embed_in_app_loop(short_wav: Path) -> None:
    r = _run("04_embed_in_app_loop.py", str(short_wav), "--renderer", "probe")
    assert "60 frames in 61 ticks" in r.stdout and "happy" in r.stdout


def test_05_unity_receiver_decodes_the_raw_namespace(tmp_path: Path) -> None:
    if not (shutil.which("mcs") and shutil.which("mono")):
        pytest.skip("no C# compiler (Debian: apt install mono-mcs)")
    from pyavatar.face.params import NAMES
    from pyavatar.outputs.osc import pack
    from pyavatar.outputs.raw_osc import frame_messages, stats_message
    from pyavatar.packets import MotionFrame

    exe = tmp_path / "receiver.exe"
    subprocess.run(
        ["mcs", "-define:PYAVATAR_SELFTEST", f"-out:{exe}", str(SAMPLES / "05_unity_raw_receiver.cs")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    p = np.zeros(len(NAMES), np.float32)
    p[NAMES.index("jaw_open")], p[NAMES.index("head_yaw")] = 0.625, -12.5
    frame = MotionFrame(0, 0, 30.0, 0, p, np.array([0.25, 0, 0, 0, 0], np.float32), 1.0, "happy", 0.75)
    files = []
    for i, d in enumerate(pack([*frame_messages(frame), stats_message({"p95_ms": 55.5})], max_bytes=200)):
        files.append(tmp_path / f"d{i}.bin")
        files[-1].write_bytes(d)
    out = subprocess.run(["mono", str(exe), *map(str, files)], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "messages=5 jaw_open=0.625 head_yaw=-12.50 emotion=happy intensity=0.75 aa=0.250 p95=55.5"
