"""``pyavatar live`` output options become the sinks they name, with the receivers' settings."""

from __future__ import annotations

import argparse

import pytest

from pyavatar.cli import build_parser
from pyavatar.cli.output_options import build_outputs
from pyavatar.config import resolve


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
        "--vmc", "10.0.0.5", "--vmc-preset", "performer", "--vmc-names", "vrm0,arkit", "--vmc-face", "vrm",
        "--vmc-emotions", "off", "--vmc-root", "--vmc-bone-positions", "zero", "--vmc-max-bytes", "900",
        "--vtube-studio", "--vts-rate", "20", "--vts-hotkey", "happy=Smile", "--vts-hotkey", "sad=cry.exp3.json",
        "--vts-token-file", str(tmp_path / "t.json"),
    )  # fmt: skip
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
