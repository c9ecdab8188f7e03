"""Kernels against the conformance fixtures (LivePortrait warping, AniTalker attention)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pyavatar import kernels
from pyavatar.kernels import reference
from tests.kernels._cases import require

CPU_BACKENDS = ["cpp", "triton", "torch"]


@pytest.fixture(scope="module")
def warping(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(fixtures_dir / "liveportrait/warping_module.io.safetensors")


@pytest.fixture(scope="module")
def e2e(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(fixtures_dir / "liveportrait/e2e.io.safetensors")


@pytest.fixture(scope="module")
def anitalker(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(fixtures_dir / "motion/anitalker/anitalker_conformer_tiny.safetensors")


def _cpu(backend: str) -> None:
    require("deform_features", backend, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_deform_features_reproduces_hourglass_input(warping, backend, lp_depth_slice):
    """The hourglass input slice of the warping fixture (group-major, heatmap first)."""
    _cpu(backend)
    out = kernels.deform_features(
        warping["dm.compressed_feature"], warping["kp_source"], warping["kp_driving"], backend=backend
    )
    n, groups, width, d, h, w = out.shape
    hourglass_slice = out.reshape(n, groups * width, d, h, w)[:, :, lp_depth_slice]
    torch.testing.assert_close(hourglass_slice, warping["dm.hourglass_input_slice"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_dense_warp_reproduces_deformation_slice(warping, backend, lp_depth_slice):
    """With the stored mask slice at its depth, the deformation slice equals the fixture's."""
    _cpu(backend)
    n, k1, h, w = warping["dm.mask_slice"].shape
    d = warping["out.deformation"].shape[1]
    mask = torch.softmax(torch.randn(n, k1, d, h, w, generator=torch.Generator().manual_seed(0)), dim=1)
    mask[:, :, lp_depth_slice] = warping["dm.mask_slice"]
    warped, deformation = kernels.dense_warp(
        warping["feature_3d"],
        mask,
        warping["kp_source"],
        warping["kp_driving"],
        return_deformation=True,
        backend=backend,
    )
    d_slice = lp_depth_slice
    torch.testing.assert_close(deformation[:, d_slice], warping["out.deformation"][:, d_slice], rtol=0, atol=1e-5)
    expect = reference.grid_sample_3d(warping["feature_3d"], deformation)
    torch.testing.assert_close(warped[:, :, d_slice], expect[:, :, d_slice], rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_grid_sample_3d_on_real_deformations(warping, e2e, backend):
    """Warp the fixture volumes with their stored deformations (full 64×64 grid for e2e)."""
    _cpu(backend)
    for feature, deformation in (
        (warping["feature_3d"], warping["out.deformation"]),
        (e2e["f_s"], e2e["warp.deformation"]),
    ):
        if backend == "triton" and feature.shape[-1] > 32:
            continue  # interpreted Triton: the 64³-scale e2e grid takes minutes
        out = kernels.grid_sample_3d(feature, deformation, backend=backend)
        torch.testing.assert_close(out, reference.grid_sample_3d(feature, deformation), rtol=0, atol=1e-5)


def _espnet_mhsa(
    weights: dict[str, torch.Tensor], x: torch.Tensor, pos_emb: torch.Tensor, mask: torch.Tensor | None, backend: str
) -> torch.Tensor:
    """espnet RelPositionMultiHeadedAttention with pyavatar's fused core."""
    p = "enc.encoders.0.self_attn."
    b, t, d = x.shape
    heads, dk = weights[p + "pos_bias_u"].shape

    def proj(name: str, inp: torch.Tensor, bias: bool = True) -> torch.Tensor:
        return torch.nn.functional.linear(
            inp, weights[p + name + ".weight"], weights[p + name + ".bias"] if bias else None
        )

    q, k, v = (proj(n, x).view(b, t, heads, dk) for n in ("linear_q", "linear_k", "linear_v"))
    pos = proj("linear_pos", pos_emb, bias=False).view(-1, 2 * t - 1, heads, dk)
    core = kernels.relpos_attention(
        q, k, v, pos, weights[p + "pos_bias_u"], weights[p + "pos_bias_v"], key_mask=mask, backend=backend
    )
    return proj("linear_out", core.reshape(b, t, d))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_relpos_attention_reproduces_anitalker_layer0(anitalker, backend):
    require("relpos_attention", backend, torch.device("cpu"), torch.float32)
    x, pos_emb = anitalker["in.mhsa_x"], anitalker["mid.pos_emb"]
    out = _espnet_mhsa(anitalker, x, pos_emb, None, backend)
    torch.testing.assert_close(out, anitalker["out.mhsa_layer0"], rtol=0, atol=1e-5)
    mask = anitalker["in.mhsa_mask"][:, 0]
    out_masked = _espnet_mhsa(anitalker, x, pos_emb, mask, backend)
    torch.testing.assert_close(out_masked, anitalker["out.mhsa_layer0_masked"], rtol=0, atol=1e-5)
