"""The default configuration builds exactly the released checkpoint layout; config parsing."""

from __future__ import annotations

import json

import pytest
import torch

from pyavatar.render.liveportrait.config import DecoderConfig, LivePortraitConfig
from pyavatar.render.liveportrait.weights import LivePortraitModels


def test_default_config_matches_manifest(lp_dir) -> None:
    manifest = json.loads((lp_dir / "manifest_full.json").read_text())
    layouts = LivePortraitModels().checkpoint_layouts()
    assert set(layouts) == set(manifest["modules"])
    for name, entry in manifest["modules"].items():
        expected = {k: (tuple(shape), dtype) for k, (shape, dtype) in entry["state_dict"].items()}
        got = {k: (tuple(shape), str(dtype).removeprefix("torch.")) for k, (shape, dtype) in layouts[name].items()}
        assert got == expected, name
        floats = sum(torch.Size(s).numel() for s, d in expected.values() if d == "float32")
        assert floats * 4 == entry["float32_bytes_all_keys"]


def test_default_config_is_manifest_config(lp_dir) -> None:
    manifest = json.loads((lp_dir / "manifest_full.json").read_text())
    assert LivePortraitConfig.from_dict(manifest["config"]) == LivePortraitConfig()


def test_reduced_config_roundtrip(lp_dir, reduced_config) -> None:
    assert LivePortraitConfig.from_dict(reduced_config.to_dict()) == reduced_config
    raw = json.loads((lp_dir / "config_reduced.json").read_text())
    backbone = raw["motion_extractor_params"]["_reduced_backbone"]
    assert reduced_config.motion.depths == tuple(backbone["depths"])
    assert reduced_config.motion.dims == tuple(backbone["dims"])
    assert reduced_config.decoder.out_channels == raw["spade_generator_params"]["out_channels"]


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="decoder input width"):
        LivePortraitConfig(decoder=DecoderConfig(block_expansion=32))
    with pytest.raises(ValueError, match="unknown parameter"):
        LivePortraitConfig.from_dict({"spade_generator_params": {"upscale": 2, "widht": 3}})
    with pytest.raises(ValueError, match="unsupported backbone"):
        LivePortraitConfig.from_dict({"motion_extractor_params": {"backbone": "resnet50"}})
