"""The first ten minutes (issue #17): what a new user meets on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.cli import main
from pyavatar.cli.commands import live as live_command
from pyavatar.cli.commands import render as render_command


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    path = tmp_path_factory.mktemp("first_run") / "speech.wav"
    sf.write(path, x[: round(1.5 * rate)], rate)
    return path


def _no_portrait(*_a: object, **_k: object) -> None:
    raise AssertionError("the portrait was prepared before the options were checked")


def test_progress_bar_with_audio_of_unknown_length(
    tmp_path: Path, speech: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"  # a video file's audio track: soundfile cannot tell its length
    assert (
        main(["render", str(DEMO_PORTRAIT), str(speech), "-o", str(clip), "--renderer", "probe", "--no-progress"]) == 0
    )
    out = tmp_path / "again.mp4"
    assert main(["render", str(DEMO_PORTRAIT), str(clip), "-o", str(out), "--renderer", "probe"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "rendering" in captured.err and out.is_file()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--emotion", "smug", "--emotion: unknown emotion 'smug'"),
        ("--intensity", "2", "--emotion/--intensity"),
        ("--lip-scale", "9", "--lip-scale"),
        ("--gaze", "left", "--gaze"),
        ("--crop", "1,2", "--crop"),
    ],
)
def test_bad_options_fail_before_the_portrait_is_prepared(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    speech: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setattr(render_command, "make_avatar", _no_portrait)
    code = main(["render", str(DEMO_PORTRAIT), str(speech), "-o", str(tmp_path / "x.mp4"), option, value])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("pyavatar render: error: ") and message in err, err


def test_live_without_the_microphone_suggests_a_file_before_preparing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(live_command, "make_avatar", _no_portrait)
    code = main(["live", str(DEMO_PORTRAIT), "--mic", "pyavatar-no-such-microphone"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("pyavatar live: error: ") and "--audio FILE" in err, err


def test_odd_sized_portrait_reports_the_size_written(
    tmp_path: Path, speech: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "odd.png"
    Image.open(DEMO_PORTRAIT).convert("RGB").resize((451, 301)).save(image)
    out = tmp_path / "odd.mp4"
    assert main(["render", str(image), str(speech), "-o", str(out), "--renderer", "probe", "--no-progress"]) == 0
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        written = f"{stream.codec_context.width}x{stream.codec_context.height}"
    assert written == "452x302" and f", {written})" in capsys.readouterr().out


@pytest.mark.slow
def test_portrait_preparation_prints_no_native_log_lines(tmp_path: Path, speech: Path) -> None:
    env = {**os.environ, "PYAVATAR_CACHE_DIR": "off"}  # detect for real: MediaPipe starts up
    argv = [
        sys.executable,
        "-m",
        "pyavatar.cli",
        "render",
        str(DEMO_PORTRAIT),
        str(speech),
        "-o",
        str(tmp_path / "o.mp4"),
        "--no-progress",
    ]
    quiet = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "", quiet.stderr
    verbose = subprocess.run([*argv, "--verbose"], env=env, capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0 and "TensorFlow Lite" in verbose.stderr


def test_doctor_lists_cuda_only_where_this_torch_can_use_it(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    devices = {d for b in report["backends"] for d in b["devices"]}
    assert torch.cuda.is_available() or not any(d.startswith("cuda") for d in devices), devices
    assert "cpu" in devices


def test_usage_errors_exit_2_and_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["render"])
    captured = capsys.readouterr()
    assert e.value.code == 2 and "usage:" in captured.err and captured.out == ""
    assert np.all([main(["calibrate", "--files", "aa=x.wav"]) == 2])
