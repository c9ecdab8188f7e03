"""Staged conformance: every module fed its stored inputs, with the C++ and the PyTorch kernel backends."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from render_helpers import BACKENDS, max_abs
from safetensors.torch import load_file

from pyavatar.render.liveportrait.motion import refine

ATOL = 1e-5
ATOL_G_INTERMEDIATE = 5e-5


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Kernel backend of the fused warp ops (only W calls kernels; every module runs under both)."""
    return request.param


@pytest.fixture
def models(reduced_models):
    return reduced_models


@torch.inference_mode()
def test_appearance_feature_extractor(models, backend, lp_io) -> None:
    io = lp_io("appearance_feature_extractor")
    f = models.appearance_feature_extractor
    assert torch.equal(
        io["input"][0], torch.from_numpy(io["input_u8_astronaut64"].numpy() / 255).float().permute(2, 0, 1)
    )
    assert max_abs(f.features_2d(io["input"]), io["second_out_2d"]) <= ATOL
    assert max_abs(f(io["input"]), io["output"]) <= ATOL


@torch.inference_mode()
def test_motion_extractor(models, backend, lp_io) -> None:
    io = lp_io("motion_extractor")
    m = models.motion_extractor
    assert max_abs(m.detector.pooled(io["input"]), io["pooled_features"]) <= ATOL
    out = m(io["input"])
    assert set(out) == {"kp", "exp", "pitch", "yaw", "roll", "t", "scale"}
    for key, value in out.items():
        assert max_abs(value, io[f"out.{key}"]) <= ATOL, key
    canonical, motion, degrees = refine(out)
    n, kp3 = io["out.kp"].shape
    assert canonical.shape == (n, kp3 // 3, 3) and motion.exp.shape == (n, kp3 // 3, 3) and degrees.shape == (n, 3)
    assert torch.equal(canonical.reshape(n, -1), out["kp"])


@torch.inference_mode()
def test_stitching_retargeting(models, backend, lp_io) -> None:
    io = lp_io("stitching_retargeting_module")
    s = models.stitching_retargeting_module
    assert max_abs(s.stitching(io["stitching.input"]), io["stitching.output"]) <= ATOL
    assert max_abs(s.stitch(io["kp_source"], io["kp_driving"]), io["stitching.kp_driving_stitched"]) <= ATOL
    assert max_abs(s.eye(io["eye.input"]), io["eye.output"]) <= ATOL
    assert max_abs(s.eye_delta(io["kp_source"], io["eye_close_ratio"]), io["eye.delta_kp"]) <= ATOL
    assert max_abs(s.lip(io["lip.input"]), io["lip.output"]) <= ATOL
    assert max_abs(s.lip_delta(io["kp_source"], io["lip_close_ratio"]), io["lip.delta_kp"]) <= ATOL


@torch.inference_mode()
def test_warping_dense_motion_intermediates(models, backend, lp_io, lp_depth_slice) -> None:
    io = lp_io("warping_module")
    dm = models.warping_module.dense_motion_network
    compressed = dm.compress(io["feature_3d"])
    assert max_abs(compressed, io["dm.compressed_feature"]) <= ATOL
    hg_in = dm.hourglass_input(compressed, io["kp_source"], io["kp_driving"], backend)
    assert max_abs(hg_in[:, :, lp_depth_slice], io["dm.hourglass_input_slice"]) <= ATOL
    dense = dm(io["feature_3d"], io["kp_source"], io["kp_driving"], backend)
    assert max_abs(dense["hourglass"][:, :, lp_depth_slice], io["dm.hourglass_output_slice"]) <= ATOL
    assert max_abs(dense["mask"][:, :, lp_depth_slice], io["dm.mask_slice"]) <= ATOL


@torch.inference_mode()
def test_warping_module(models, backend, lp_io) -> None:
    io = lp_io("warping_module")
    out = models.warping_module(
        io["feature_3d"], kp_source=io["kp_source"], kp_driving=io["kp_driving"], kernel_backend=backend
    )
    for key in ("deformation", "occlusion_map", "out"):
        assert max_abs(out[key], io[f"out.{key}"]) <= ATOL, key


@torch.inference_mode()
def test_spade_generator(models, backend, lp_io) -> None:
    io = lp_io("spade_generator")
    g = models.spade_generator
    feature = io["feature"]
    assert max_abs(g.fc(feature), io["fc_out"]) <= ATOL
    assert max_abs(g.middle(feature), io["G_middle_5_out"]) <= ATOL_G_INTERMEDIATE
    up0 = g.up_0(F.interpolate(io["G_middle_5_out"], scale_factor=2, mode="nearest"), feature)
    assert max_abs(up0, io["up_0_out"]) <= ATOL_G_INTERMEDIATE
    up1 = g.up_1(F.interpolate(io["up_0_out"], scale_factor=2, mode="nearest"), feature)
    assert max_abs(up1, io["up_1_out"]) <= ATOL_G_INTERMEDIATE
    assert max_abs(g(feature), io["output"]) <= ATOL


def test_spectral_norm_folded_at_load(reduced_models, lp_dir) -> None:
    effective = load_file(str(lp_dir / "weights" / "spade_generator.effective_conv_weights.safetensors"))
    g = reduced_models.spade_generator
    names = [k.removesuffix(".weight") for k in effective if k.endswith(".weight")]
    assert len(names) == 18  # 6 middle blocks × 2 + up_0, up_1 × 3 (with the learned shortcut)
    for name in names:
        assert max_abs(g.get_submodule(name).weight, effective[f"{name}.weight"]) <= 1e-6, name
    assert not any("weight_orig" in k or "weight_u" in k for k in g.state_dict())


def test_no_training_state_kept(reduced_models) -> None:
    keys = [k for k in reduced_models.state_dict()]
    assert not any(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in keys)
    assert not any(p.requires_grad for p in reduced_models.parameters())
    assert not reduced_models.training
