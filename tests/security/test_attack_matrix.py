"""Damaged, hostile or careless inputs: images, audio, outputs and weights.

Each case gives a clear error naming the input (one line from the CLI, no
traceback) or a correct result; no input file is ever destroyed and no
truncated output is left under the final name.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
from pyavatar.audio.sources import AudioSourceError, FileSource
from pyavatar.cli import main as cli_main
from pyavatar.motion.joyvasa import load_joyvasa
from pyavatar.outputs.video import check_output
from pyavatar.render.images import MAX_SIDE, load_rgba
from tests.motion.test_joyvasa_loader import _save, _tiny

# ------------------------------------------------------------------------------------------------ files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and damaged inputs, made once."""
    d = tmp_path_factory.mktemp("attack")
    x, rate = sf.read(DEMO_SPEECH, dtype="float32")
    x = x[: 3 * rate]
    out: dict[str, Path] = {"image": d / "face.png"}
    Image.open(DEMO_PORTRAIT).convert("RGB").resize((96, 96)).save(out["image"])
    for ext, fmt in (("wav", "WAV"), ("mp3", "MP3"), ("flac", "FLAC"), ("ogg", "OGG")):
        good = d / f"speech.{ext}"
        sf.write(good, x, rate, format=fmt)
        data = good.read_bytes()
        out[ext] = good
        out[f"truncated_{ext}"] = d / f"truncated.{ext}"
        out[f"truncated_{ext}"].write_bytes(data[: len(data) // 3])
    sf.write(d / "empty.wav", np.zeros(0, np.float32), rate)
    out["empty_wav"] = d / "empty.wav"
    out["zero_bytes_wav"] = d / "zero.wav"
    out["zero_bytes_wav"].write_bytes(b"")
    out["dir"] = d / "folder"
    out["dir"].mkdir()
    return out


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_main(["render", *argv, "--renderer", "probe", "--no-progress"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if code:  # failures are one line on stderr
        assert "error:" not in captured.out and captured.err.count("error:") == 1, captured
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    "case", ["truncated_wav", "truncated_mp3", "truncated_flac", "truncated_ogg", "empty_wav", "zero_bytes_wav", "dir"]
)
def test_damaged_audio_is_an_error_naming_the_file(files: dict[str, Path], case: str) -> None:
    path = files[case]
    with pytest.raises(AudioSourceError) as err:
        list(FileSource(path))
    assert str(path) in str(err.value)


def test_good_audio_decodes_completely(files: dict[str, Path]) -> None:
    for ext in ("wav", "mp3", "flac", "ogg"):
        src = FileSource(files[ext])
        assert abs(sum(len(c.samples) for c in src) - 3 * src.sample_rate) <= 0.06 * src.sample_rate


def test_cli_truncated_audio_fails_and_leaves_no_output(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clip.mp4"
    code, text = _cli(capsys, str(files["image"]), str(files["truncated_mp3"]), "-o", str(out))
    assert code == 1 and "truncated.mp3" in text and "declares 3.00 s" in text and "--allow-truncated" in text
    assert list(tmp_path.iterdir()) == []  # neither the output nor a partial file
    code, text = _cli(capsys, str(files["image"]), str(files["truncated_wav"]), "-o", str(out), "--allow-truncated")
    assert code == 0 and out.is_file() and list(tmp_path.iterdir()) == [out]
    code, text = _cli(capsys, str(files["image"]), str(files["empty_wav"]), "-o", str(tmp_path / "e.mp4"))
    assert code == 1 and "empty.wav: no audio samples" in text and not (tmp_path / "e.mp4").exists()


def test_cli_refuses_an_output_that_is_an_input(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(files["wav"], tmp_path / "speech.wav")
    code, _ = _cli(capsys, str(files["image"]), str(tmp_path / "speech.wav"), "-o", str(clip))
    assert code == 0
    before = clip.read_bytes()
    code, text = _cli(capsys, str(files["image"]), str(clip), "-o", str(clip))  # the reproduction
    assert code == 1 and "is the input" in text and clip.read_bytes() == before
    image_copy = tmp_path / "face.png"
    shutil.copy(files["image"], image_copy)
    code, text = _cli(capsys, str(image_copy), str(files["wav"]), "-o", str(tmp_path / "." / "face.png"))
    assert code == 1 and "is the input" in text and image_copy.read_bytes() == files["image"].read_bytes()
    with pytest.raises(ValueError, match="is the input"):  # a hard link is the same file too
        os.link(files["wav"], tmp_path / "link.wav")
        check_output(tmp_path / "link.wav", [files["wav"]])


def test_cli_unwritable_output_is_one_clear_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(capsys, str(files["image"]), str(files["wav"]), "-o", "/proc/pyavatar-no-such/clip.mp4")
    assert code == 1 and "/proc/pyavatar-no-such/clip.mp4" in text and "mux" not in text
    assert text.count("error:") == 1


def test_cli_directory_inputs_are_named(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(capsys, str(files["dir"]), str(files["wav"]), "-o", str(tmp_path / "a.mp4"))
    assert code == 1 and f"portrait {files['dir']} is a directory" in text
    code, text = _cli(capsys, str(files["image"]), str(files["dir"]), "-o", str(tmp_path / "a.mp4"))
    assert code == 1 and f"audio {files['dir']} is a directory" in text
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------- images


def _png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb as far as the header goes)."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    grey8 = np.asarray(Image.open(DEMO_PORTRAIT).convert("L"))
    path = tmp_path / "grey16.png"
    Image.fromarray(grey8.astype(np.uint16) * 257).save(path)  # the full 16-bit range
    rgb, alpha = load_rgba(path)
    assert alpha is None and rgb.dtype == np.uint8
    assert np.abs(rgb[..., 0].astype(int) - grey8).max() <= 1  # was clipped to near-white


def test_image_size_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bomb\.png is too large to decode safely"):
        load_rgba(_png_with_size(tmp_path / "bomb.png", 16000, 16000))
    big = tmp_path / "big.jpg"
    Image.open(DEMO_PORTRAIT).convert("RGB").resize((5000, 2500)).save(big, quality=80)
    rgb, _ = load_rgba(big)
    assert max(rgb.shape[:2]) == MAX_SIDE and rgb.shape[1] == 2 * rgb.shape[0]


def test_damaged_images_are_named(files: dict[str, Path], tmp_path: Path) -> None:
    jpg = tmp_path / "face.jpg"
    Image.open(DEMO_PORTRAIT).convert("RGB").save(jpg)
    (tmp_path / "cut.jpg").write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    (tmp_path / "text.png").write_text("not an image")
    for name in ("cut.jpg", "text.png"):
        with pytest.raises(ValueError, match=rf"portrait {tmp_path / name} cannot be read"):
            load_rgba(tmp_path / name)
    with pytest.raises(ValueError, match="is a directory"):
        load_rgba(files["dir"])


# ---------------------------------------------------------------------------------------------- weights


def test_joyvasa_damaged_checkpoints_name_the_file(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model = _tiny()
    good = _save(model, tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.pt").write_bytes(b"")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "m.safetensors")
    st = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(st[: len(st) // 2])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    cases = [
        ("cut.pt", "cannot read the JoyVASA checkpoint"),
        ("zero.pt", "empty"),
        ("cut.safetensors", "cannot read the safetensors file"),
        ("empty.safetensors", "empty"),
    ]
    for name, match in cases:
        with pytest.raises(ValueError, match=rf"{name}: .*{match}"):
            load_joyvasa(tmp_path / name)


@pytest.mark.parametrize("damage", ["nan", "inf", "int32", "shape"])
def test_joyvasa_bad_weights_are_refused_naming_file_and_key(tmp_path: Path, damage: str) -> None:
    torch.set_num_threads(1)
    model = _tiny()
    state = dict(model.state_dict())
    key = "audio_feature_map.weight"
    if damage == "nan":
        state[key] = state[key].clone().index_fill_(0, torch.tensor([0]), float("nan"))
    elif damage == "inf":
        state[key] = state[key].clone().index_fill_(0, torch.tensor([1]), float("inf"))
    elif damage == "int32":
        state[key] = state[key].to(torch.int32)
    else:
        state[key] = state[key][:, :-1].contiguous()
    path = tmp_path / f"{damage}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    with pytest.raises(ValueError) as err:
        load_joyvasa(path, args={"n_motions": model.cfg.n_motions})
    assert str(path) in str(err.value) and key in str(err.value)


def test_liveportrait_non_finite_weights_are_refused(tmp_path: Path, fixtures_dir: Path) -> None:
    lp = fixtures_dir / "liveportrait"
    from pyavatar.render import CheckpointError, load_liveportrait
    from pyavatar.render.liveportrait.config import LivePortraitConfig

    weights = tmp_path / "weights"
    shutil.copytree(lp / "weights", weights)
    target = weights / "warping_module.safetensors"
    state = load_file(str(target))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key].clone().view(-1).index_fill_(0, torch.tensor([0]), float("nan")).view(state[key].shape)
    save_file(state, str(target))
    with pytest.raises(CheckpointError) as err:
        load_liveportrait(weights, LivePortraitConfig.from_json(lp / "config_reduced.json"))
    assert str(target) in str(err.value) and key in str(err.value) and "non-finite" in str(err.value)


# ------------------------------------------------------------------------------------------ SDK values


def test_sdk_refuses_bad_ports_and_rates() -> None:
    from pyavatar import Avatar
    from pyavatar.outputs.osc import UdpSender
    from pyavatar.outputs.vmc import VmcSender

    for port in (70000, 0, -1, True, 39539.5):
        with pytest.raises(ValueError, match="port must be an integer in 1..65535"):
            VmcSender(port=port)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=f"got {port!r}"):
            UdpSender("127.0.0.1", port)  # type: ignore[arg-type]
    session = Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=64).session()
    for rate in (0, -16000, 0.5, True):
        with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
            session.feed_audio(np.zeros(160, np.float32), rate)  # type: ignore[arg-type]
