"""The command line: render, demo, live (in-process with loopback receivers), config files and --help."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.cli import build_parser, main
from pyavatar.cli.config import COMMANDS

av = pytest.importorskip("av")


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyavatar.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def _streams(path: Path) -> tuple[int, float, float]:
    """(video frames, video seconds, audio seconds) of a file, counted by decoding."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        fps = float(v.average_rate)
    with av.open(str(path)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    return n, n / fps, samples / rate


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    path = tmp_path_factory.mktemp("cli") / "speech.wav"
    sf.write(path, x[: round(2.5 * rate)], rate)
    return path


def test_render_keeps_duration_and_audio(tmp_path: Path, short_speech: Path) -> None:
    out = tmp_path / "out.mp4"
    r = _cli(
        "render",
        str(DEMO_PORTRAIT),
        str(short_speech),
        "-o",
        str(out),
        "--renderer",
        "probe",
        "--fps",
        "25",
        "--no-progress",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"wrote {out}" in r.stdout
    duration = sf.info(str(short_speech)).duration
    n, video_s, audio_s = _streams(out)
    assert n == math.ceil(duration * 25)
    assert abs(video_s - duration) <= 1 / 25 and abs(audio_s - duration) <= 1 / 25


def test_demo_renders_the_bundled_assets(tmp_path: Path) -> None:
    r = _cli("demo", "--renderer", "probe", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo_portrait.jpg" in r.stdout and "wrote demo.mp4" in r.stdout
    _, video_s, audio_s = _streams(tmp_path / "demo.mp4")
    assert abs(video_s - sf.info(str(DEMO_SPEECH)).duration) <= 1 / 30 and abs(audio_s - video_s) <= 1 / 30


@pytest.mark.slow
def test_demo_with_the_default_renderer(tmp_path: Path) -> None:
    r = _cli("demo", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "classical renderer" in r.stdout and (tmp_path / "demo.mp4").is_file()


def test_config_file_and_command_line_precedence(tmp_path: Path, short_speech: Path) -> None:
    cfg = tmp_path / "pyavatar.toml"
    cfg.write_text('fps = 20\nrenderer = "probe"\nvmc = "127.0.0.1:1"\n\n[render]\nprogress = false\nlip-scale = 0.5\n')
    out = tmp_path / "cfg.mp4"
    assert main(["render", str(DEMO_PORTRAIT), str(short_speech), "-o", str(out), "--config", str(cfg)]) == 0
    assert _streams(out)[0] == math.ceil(sf.info(str(short_speech)).duration * 20)
    assert (
        main(["render", str(DEMO_PORTRAIT), str(short_speech), "-o", str(out), "--config", str(cfg), "--fps", "10"])
        == 0
    )
    assert _streams(out)[0] == math.ceil(sf.info(str(short_speech)).duration * 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fsp = 20\n", "unknown option 'fsp'"),
        ("[render]\nvirtualcam = true\n", "unknown option 'virtualcam'"),
        ("fps = 'fast'\n", "fps must be float"),
        ("[rnder]\n", "unknown table [rnder]"),
        ("fps = \n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, short_speech: Path, capsys: pytest.CaptureFixture, text: str, message: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    rc = main(["render", str(DEMO_PORTRAIT), str(short_speech), "-o", str(tmp_path / "x.mp4"), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("pyavatar render: error:") and message in err and str(cfg) in err


def test_help_lists_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("demo", "render", "live"):
        text = sub.choices[command].format_help()
        for key in COMMANDS[command]:
            assert f"--{key.replace('_', '-')}" in text, f"{command} --help misses --{key}"
    for command in ("devices", "calibrate", "doctor", "bench", "eval"):
        assert command in sub.choices


def test_live_cli_streams_vmc_osc_and_virtual_camera(tmp_path: Path, short_speech: Path) -> None:
    pytest.importorskip("pythonosc", reason="python-osc receives the loopback traffic")
    pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="the virtual webcam output needs pyvirtualcam")
    from pythonosc.udp_client import SimpleUDPClient

    from tests.outputs.osc_receiver import Receiver
    from tests.outputs.test_virtualcam import TestCamera

    pyvirtualcam.register_backend("pyavatar-test", TestCamera)
    stats_file = tmp_path / "stats.json"
    with Receiver() as vmc, Receiver() as raw:
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        control_port = s.getsockname()[1]
        s.close()

        def steer() -> None:  # once the control server listens (its thread runs), whatever the machine's load
            deadline = time.monotonic() + 120
            while "pyavatar-control" not in {t.name for t in threading.enumerate()}:
                assert time.monotonic() < deadline, "the control server did not start"
                time.sleep(0.01)
            client = SimpleUDPClient("127.0.0.1", control_port)
            client.send_message("/pyavatar/set/emotion", ["happy", 0.9])
            client.send_message("/pyavatar/set/nonsense", 1.0)

        threading.Thread(target=steer, daemon=True).start()
        rc = main(
            [
                "live",
                str(DEMO_PORTRAIT),
                "--audio",
                str(short_speech),
                "--renderer",
                "probe",
                "--virtualcam",
                "--cam-backend",
                "pyavatar-test",
                "--cam-size",
                "640x360",
                "--vmc",
                f"127.0.0.1:{vmc.port}",
                "--vmc-names",
                "vrm0,arkit",
                "--osc",
                f"127.0.0.1:{raw.port}",
                "--control",
                f"127.0.0.1:{control_port}",
                "--stats",
                "--stats-json",
                str(stats_file),
                "--duration",
                "120",  # an upper bound: the session ends with the file
            ]
        )
        time.sleep(0.1)
    pyvirtualcam.camera.BACKENDS.pop("pyavatar-test", None)
    assert rc == 0
    stats = json.loads(stats_file.read_text())
    assert stats["control"] == {"received": 2, "applied": 1, "malformed": 1}
    # every frame of the 2.5 s file was shown or counted as dropped, and the camera got every output frame
    assert stats["latency_frames"] + stats["drops"] == math.ceil(2.5 * 30) and stats["latency_frames"] > 0
    cam = TestCamera.last
    assert cam is not None and (cam.width, cam.height) == (640, 360) and cam.closed
    assert len(cam.frames) == stats["frames_out"] >= stats["latency_frames"]
    names = {a[0] for _, a in vmc.of("/VMC/Ext/Blend/Val")}
    assert {"A", "JawOpen"} <= names
    jaw = [args[1] for _, args in vmc.of("/VMC/Ext/Blend/Val") if args[0] == "JawOpen"]
    a = [args[1] for _, args in vmc.of("/VMC/Ext/Blend/Val") if args[0] == "A"]
    assert max(jaw) > 0.2 and max(a) == 0.0  # vrm0,arkit: the mouth comes from the ARKit shapes only
    emotions = [args[0] for _, args in raw.of("/pyavatar/emotion")]
    assert emotions[0] == "neutral" and emotions[-1] == "happy"
    assert raw.of("/pyavatar/stats")
