"""Checkpoint discovery, strict loading, error messages, unsafe pickles and conversion."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pyavatar.cli import main as cli_main
from pyavatar.render import CheckpointError, load_liveportrait
from pyavatar.render.liveportrait.weights import BASE_MODULES, STITCHING

SUBS = ("retarget_shoulder", "retarget_mouth", "retarget_eye")


def _base_state(lp_dir: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(lp_dir / "weights" / f"{name}.safetensors"))


def _stitch_state(lp_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {s: load_file(str(lp_dir / "weights" / f"{STITCHING}.{s}.safetensors")) for s in SUBS}


@pytest.fixture
def pth_dir(tmp_path: Path, lp_dir: Path) -> Path:
    """The fixture weights in the released .pth layout (stitching: one file, DDP-prefixed sub-dicts)."""
    root = tmp_path / "pretrained_weights" / "liveportrait"
    (root / "base_models").mkdir(parents=True)
    (root / "retargeting_models").mkdir()
    for name in BASE_MODULES:
        torch.save(_base_state(lp_dir, name), root / "base_models" / f"{name}.pth")
    stitch = {s: {f"module.{k}": v for k, v in d.items()} for s, d in _stitch_state(lp_dir).items()}
    torch.save(stitch, root / "retargeting_models" / f"{STITCHING}.pth")
    return tmp_path / "pretrained_weights"


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pth_layout_loads_like_safetensors(pth_dir: Path, lp_dir: Path, reduced_config, reduced_models) -> None:
    models = load_liveportrait(pth_dir, reduced_config)
    assert _same_weights(models, reduced_models)


def test_file_list_and_mapping(lp_dir: Path, reduced_config, reduced_models) -> None:
    files = sorted((lp_dir / "weights").glob("*.safetensors"))
    assert _same_weights(load_liveportrait(files, reduced_config), reduced_models)
    mapping = {n: lp_dir / "weights" / f"{n}.safetensors" for n in BASE_MODULES}
    mapping.update({f"{STITCHING}.{s}": lp_dir / "weights" / f"{STITCHING}.{s}.safetensors" for s in SUBS})
    assert _same_weights(load_liveportrait(mapping, reduced_config), reduced_models)


def test_missing_file_is_named(pth_dir: Path, reduced_config) -> None:
    os.remove(pth_dir / "liveportrait" / "base_models" / "warping_module.pth")
    with pytest.raises(CheckpointError, match=r"not found in .*warping_module\.pth\|\.safetensors"):
        load_liveportrait(pth_dir, reduced_config)


def test_ambiguous_folder_is_refused(pth_dir: Path, reduced_config) -> None:
    shutil.copytree(pth_dir / "liveportrait", pth_dir / "liveportrait_animals")
    with pytest.raises(CheckpointError, match="several candidate files"):
        load_liveportrait(pth_dir, reduced_config)
    load_liveportrait(pth_dir / "liveportrait", reduced_config)


def _rewrite(pth_dir: Path, name: str, edit) -> Path:
    path = pth_dir / "liveportrait" / "base_models" / f"{name}.pth"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    return path


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def test_shape_mismatch_names_file_key_and_both_shapes(pth_dir: Path, lp_dir: Path, reduced_config) -> None:
    want = tuple(_base_state(lp_dir, "warping_module")["fourth.weight"].shape)
    wrong = (want[0], want[1] + 1, *want[2:])
    path = _rewrite(pth_dir, "warping_module", lambda s: s.__setitem__("fourth.weight", torch.zeros(wrong)))
    with pytest.raises(CheckpointError) as err:
        load_liveportrait(pth_dir, reduced_config)
    msg = str(err.value)
    assert str(path) in msg
    assert "'fourth.weight'" in msg and _shape(wrong) in msg and _shape(want) in msg


def test_missing_and_unexpected_keys_in_one_error(pth_dir: Path, lp_dir: Path, reduced_config) -> None:
    bias = tuple(_base_state(lp_dir, "spade_generator")["fc.bias"].shape)

    def edit(s: dict) -> None:
        s["extra.weight"] = torch.zeros(3)
        del s["fc.bias"]

    path = _rewrite(pth_dir, "spade_generator", edit)
    with pytest.raises(CheckpointError) as err:
        load_liveportrait(pth_dir, reduced_config)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "2 problem(s)" in msg
    assert f"missing key 'fc.bias' (expected shape {_shape(bias)})" in msg
    assert re.search(r"unexpected key 'extra\.weight' \(shape \(3\)\)", msg)


def test_wrapped_state_dict_is_refused(pth_dir: Path, reduced_config) -> None:
    path = pth_dir / "liveportrait" / "base_models" / "appearance_feature_extractor.pth"
    torch.save({"model": torch.load(path, weights_only=True)}, path)
    with pytest.raises(CheckpointError, match="unexpected key 'model'"):
        load_liveportrait(pth_dir, reduced_config)


class _Exploit:
    """Pickles into a call of os.system (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(pth_dir: Path, tmp_path: Path, reduced_config) -> None:
    marker = tmp_path / "pwned"
    path = pth_dir / "liveportrait" / "base_models" / "motion_extractor.pth"
    state = torch.load(path, weights_only=True)
    state["payload"] = _Exploit(marker)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"motion_extractor\.pth: refused or unreadable"):
        load_liveportrait(pth_dir, reduced_config)
    assert not marker.exists()


def test_convert_weights_cli_roundtrip(
    pth_dir: Path, tmp_path: Path, lp_dir: Path, reduced_config, reduced_models, capsys
) -> None:
    out = tmp_path / "converted"
    code = cli_main(["convert-weights", str(pth_dir), str(out), "--model-config", str(lp_dir / "config_reduced.json")])
    assert code == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{n}.safetensors" for n in (*BASE_MODULES, STITCHING))
    assert str(out / "warping_module.safetensors") in capsys.readouterr().out
    stitch = load_file(str(out / f"{STITCHING}.safetensors"))
    assert stitch.keys() == {f"{s}.{k}" for s, d in _stitch_state(lp_dir).items() for k in d}
    assert _same_weights(load_liveportrait(out, reduced_config), reduced_models)


def test_convert_weights_cli_reports_errors(pth_dir: Path, tmp_path: Path, lp_dir: Path, capsys) -> None:
    code = cli_main(["convert-weights", str(pth_dir), str(tmp_path / "o")])  # default (full-size) layout
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("pyavatar convert-weights: error: ") and "shape mismatch" in err


def test_flattened_stitching_file(tmp_path: Path, lp_dir: Path, reduced_config, reduced_models) -> None:
    for name in BASE_MODULES:
        shutil.copy(lp_dir / "weights" / f"{name}.safetensors", tmp_path)
    flat = {f"{s}_module.{k}": v for s, d in _stitch_state(lp_dir).items() for k, v in d.items()}
    save_file(flat, str(tmp_path / f"{STITCHING}.safetensors"))
    assert _same_weights(load_liveportrait(tmp_path, reduced_config), reduced_models)
    flat["retarget_lips.mlp.0.weight"] = torch.zeros(1)
    save_file(flat, str(tmp_path / f"{STITCHING}.safetensors"))
    with pytest.raises(CheckpointError, match="unexpected key 'retarget_lips.mlp.0.weight'"):
        load_liveportrait(tmp_path, reduced_config)


def test_corrupt_safetensors_is_named(tmp_path: Path, lp_dir: Path, reduced_config) -> None:
    for f in (lp_dir / "weights").glob("*.safetensors"):
        shutil.copy(f, tmp_path)
    (tmp_path / "spade_generator.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"spade_generator\.safetensors: refused or unreadable"):
        load_liveportrait(tmp_path, reduced_config)
