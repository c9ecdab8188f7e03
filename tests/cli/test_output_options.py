"""``pyavatar live`` output options become the sinks they name, with the receivers' settings."""

from __future__ import annotations

import argparse

import pytest

from pyavatar.cli import build_parser
from pyavatar.cli.config import resolve
from pyavatar.cli.output_options import build_outputs


def _outputs(*argv: str) -> list:
    args = build_parser().parse_args(["live", "portrait.png", *argv])
    return build_outputs(resolve(args, "live"))


def _args(*argv: str) -> argparse.Namespace:
    return resolve(build_parser().parse_args(["live", "portrait.png", *argv]), "live")


def test_defaults_match_the_receivers() -> None:
    (vmc,) = _outputs("--vmc")
    assert (vmc.host, vmc.port, vmc.preset) == ("127.0.0.1", 39539, "marionette")
    assert vmc.max_bytes == 1200 and not vmc.send_root and vmc.emotions == "nonzero" and vmc.face_source == "vrm"
    assert vmc.positions[1, 1] > 0.05  # rest-pose positions, not zeros
    args = _args("--virtualcam")
    assert args.cam_size == "1280x720" and args.cam_format == "rgb"


def test_every_vmc_and_vts_option_reaches_its_sink(tmp_path) -> None:
    vmc, vts = _outputs(
        "--vmc",
        "10.0.0.5",
        "--vmc-preset",
        "performer",
        "--vmc-names",
        "vrm0,arkit",
        "--vmc-face",
        "vrm",
        "--vmc-emotions",
        "off",
        "--vmc-root",
        "--vmc-bone-positions",
        "zero",
        "--vmc-max-bytes",
        "900",
        "--vtube-studio",
        "--vts-rate",
        "20",
        "--vts-hotkey",
        "happy=Smile",
        "--vts-hotkey",
        "sad=cry.exp3.json",
        "--vts-token-file",
        str(tmp_path / "t.json"),
    )
    assert (vmc.host, vmc.port, vmc.preset, vmc.max_bytes) == ("10.0.0.5", 39540, "performer", 900)
    assert vmc.face_source == "vrm" and vmc.emotions == "off" and "Joy" not in vmc.names
    assert not vmc.send_root  # a Performer has no root message
    assert vts.url == "ws://127.0.0.1:8001" and vts.rate == 20.0
    assert vts.hotkeys == {"happy": "Smile", "sad": "cry.exp3.json"} and vts.tokens.path == tmp_path / "t.json"


def test_option_errors_name_the_option() -> None:
    with pytest.raises(ValueError, match="--cam-size"):
        _outputs("--virtualcam", "--cam-size", "big")
    with pytest.raises(ValueError, match="--cam-device names a device of one backend"):
        _outputs("--virtualcam", "--cam-device", "/dev/video9")
    with pytest.raises(ValueError, match="--vts-hotkey"):
        _outputs("--vtube-studio", "--vts-hotkey", "happy")
    with pytest.raises(ValueError, match="max_bytes"):
        _outputs("--vmc", "--vmc-max-bytes", "10")


def test_live_drives_vtube_studio_and_reports_a_refusal(tmp_path, capsys) -> None:
    pytest.importorskip("websockets")
    import soundfile as sf

    from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
    from pyavatar.cli import main
    from tests.outputs.vts_server import FakeVTubeStudio

    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    speech = tmp_path / "speech.wav"
    sf.write(speech, x[: round(1.5 * rate)], rate)

    def live(url: str) -> int:  # runs until the 1.5 s clip has played
        return main(
            [
                "live",
                str(DEMO_PORTRAIT),
                "--audio",
                str(speech),
                "--renderer",
                "probe",
                "--control",
                "off",
                "--vtube-studio",
                url,
                "--vts-token-file",
                str(tmp_path / "t.json"),
            ]
        )

    server = FakeVTubeStudio().start()
    try:
        assert live(server.url) == 0
    finally:
        server.stop()
    sent = [d["parameterValues"] for _, d in server.of("InjectParameterDataRequest")]
    assert len(sent) > 15 and max(v["value"] for p in sent for v in p if v["id"] == "MouthOpen") > 0.2
    denied = FakeVTubeStudio(deny=True).start()
    (tmp_path / "t.json").unlink()
    try:
        assert live(denied.url) == 1
    finally:
        denied.stop()
    assert "pyavatar live: error: VTube Studio at" in capsys.readouterr().err
