"""Edge cases of the C++ CPU warp kernels, on every compiled ISA build.

Complements the main parametrised kernel tests: coordinates exactly on voxel
centres and borders or far outside, every channel-chunk width of the sampler,
both sampling paths (channels-last padded copy and direct strided gathers),
arbitrary strides, keypoint shifts that put taps on integer positions, and the
LivePortrait warping-module fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pyavatar import kernels
from pyavatar.kernels import reference

core = pytest.importorskip("pyavatar._core", reason="pyavatar._core (C++ backend) is not built")


def _isas() -> list[str]:
    info = core.build_info()
    return [isa for isa in info["compiled_isas"] if isa != "v3" or info["cpu_supports_v3"]]


@pytest.fixture(params=_isas())
def isa(request: pytest.FixtureRequest) -> Iterator[str]:
    core.set_active_isa(request.param)
    try:
        yield request.param
    finally:
        core.set_active_isa("auto")


def _special_grid(
    n: int, do: int, ho: int, wo: int, size_dhw: tuple[int, int, int], gen: torch.Generator
) -> torch.Tensor:
    """Random grid where a share of each coordinate sits on a voxel centre (both conventions),
    on ±1, just outside, or far outside the volume."""
    grid = torch.rand(n, do, ho, wo, 3, generator=gen) * 2.4 - 1.2
    flat = grid.view(-1, 3)
    m = flat.shape[0]
    for axis, size in enumerate(reversed(size_dhw)):  # x ↔ W, y ↔ H, z ↔ D
        idx = torch.randint(0, size, (m,), generator=gen).float()
        choices = [
            2 * idx / (size - 1) - 1,  # centre, align_corners=True
            (2 * idx + 1) / size - 1,  # centre, align_corners=False
            torch.full((m,), 1.0),
            torch.full((m,), -1.0),
            torch.full((m,), -1.0 - 1.0 / size),
            torch.full((m,), 1.0 + 1.0 / size),
            torch.full((m,), 1e9),
            torch.full((m,), -3e38),
        ]
        pick = torch.randint(0, 2 * len(choices), (m,), generator=gen)
        for k, value in enumerate(choices):
            flat[:, axis] = torch.where(pick == k, value, flat[:, axis])
    return grid


# Channel counts covering every accumulator width of the sampler (32, 16, 8, 4, 1) and their mixes.
@pytest.mark.parametrize("channels", [1, 3, 4, 8, 13, 16, 32, 45])
@pytest.mark.parametrize("out_size", [(5, 6, 7), (1, 2, 3)], ids=["padded-path", "direct-path"])
def test_grid_sample_3d_edges(isa: str, channels: int, out_size: tuple[int, int, int]) -> None:
    gen = torch.Generator().manual_seed(channels)
    size = (6, 7, 9)
    volume = torch.randn(2, channels, *size, generator=gen)
    grid = _special_grid(2, *out_size, size, gen)
    views = {
        "contiguous": volume,
        "channels-last": volume.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3),
        "transposed": volume.transpose(2, 4).contiguous().transpose(2, 4),
        "batch-broadcast": volume[:1].expand(2, *volume.shape[1:]),
    }
    grids = {"contiguous": grid, "permuted": grid.permute(0, 3, 2, 1, 4).contiguous().permute(0, 3, 2, 1, 4)}
    for padding in ("zeros", "border"):
        for align in (False, True):
            for vname, v in views.items():
                for gname, g in grids.items():
                    want = F.grid_sample(v, g, mode="bilinear", padding_mode=padding, align_corners=align)
                    got = kernels.grid_sample_3d(v, g, padding, align, backend="cpp")
                    torch.testing.assert_close(
                        got, want, rtol=0, atol=1e-5, msg=f"{padding=} {align=} input {vname} grid {gname}"
                    )


def test_grid_sample_3d_corners_outside_read_nothing(isa: str) -> None:
    """Out-of-range corners contribute nothing even where the volume holds inf."""
    volume = torch.randn(1, 3, 4, 5, 6)
    volume[:, :, :, :, 0] = float("inf")
    grid = torch.rand(1, 3, 4, 5, 3) * 0.5 + 0.4  # x well away from the inf column
    grid[0, 0, 0, :, 0] = torch.tensor([1.2, 5.0, 1e30, 1.0 + 1 / 6, 1.1])
    want = F.grid_sample(volume, grid, align_corners=False)
    got = kernels.grid_sample_3d(volume, grid, backend="cpp")
    assert torch.isfinite(want).all()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def _integer_shift_keypoints(
    n: int, k: int, size_dhw: tuple[int, int, int], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """kp_source − kp_driving = whole voxel steps (taps exactly on voxels), plus far-outside and edge shifts."""
    kd = torch.zeros(n, k, 3)
    ks = torch.zeros(n, k, 3)
    for axis, size in enumerate(reversed(size_dhw)):
        steps = torch.randint(-size, size + 1, (n, k), generator=gen).float()
        ks[..., axis] = steps * 2 / size
        kd[..., axis] = torch.where(torch.rand(n, k, generator=gen) < 0.3, 0.0, steps * 2 / (size - 1))
    ks[:, 0] = torch.tensor([5.0, -7.0, 1e6])  # everything outside
    kd[:, 0] = 0
    ks[:, 1] = torch.tensor([2.0, 2.0, 2.0])  # lattice moved exactly by one volume width
    kd[:, 1] = 0
    return ks, kd


@pytest.mark.parametrize("shape", [(2, 3, 5, 6, 7, 4), (1, 1, 2, 2, 2, 2), (3, 2, 3, 11, 2, 5)])
def test_deform_features_edges(isa: str, shape: tuple[int, ...]) -> None:
    n, c, d, h, w, k = shape
    gen = torch.Generator().manual_seed(sum(shape))
    feature = torch.randn(n, c, d, h, w, generator=gen)
    ks_rand = torch.rand(n, k, 3, generator=gen) * 2.4 - 1.2
    kd_rand = torch.rand(n, k, 3, generator=gen) * 2.4 - 1.2
    ks_int, kd_int = _integer_shift_keypoints(n, k, (d, h, w), gen)
    cases = {
        "random": (feature, ks_rand, kd_rand, 0.01),
        "integer taps": (feature, ks_int, kd_int, 0.01),
        "wide gaussians": (feature, ks_rand, kd_int, 0.5),
        "channels-last": (feature.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3), ks_rand, kd_rand, 0.01),
        "transposed": (
            feature.transpose(2, 4).contiguous().transpose(2, 4),
            ks_rand.transpose(1, 2).contiguous().transpose(1, 2),
            kd_rand,
            0.01,
        ),
    }
    for name, (f, ks, kd, var) in cases.items():
        want = reference.deform_features(f, ks, kd, var)
        got = kernels.deform_features(f, ks, kd, var, backend="cpp")
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5, msg=name)


@pytest.mark.parametrize(
    "feature_size, mask_size",
    [((5, 6, 7), (5, 6, 7)), ((9, 4, 11), (3, 5, 6)), ((24, 24, 24), (2, 3, 2))],
    ids=["same-size", "resampled", "direct-path"],
)
def test_dense_warp_edges(isa: str, feature_size: tuple[int, int, int], mask_size: tuple[int, int, int]) -> None:
    n, c, k = 2, 5, 3
    gen = torch.Generator().manual_seed(feature_size[0] * 7 + mask_size[0])
    feature = torch.randn(n, c, *feature_size, generator=gen)
    ks = torch.rand(n, k, 3, generator=gen) * 2 - 1
    kd = torch.rand(n, k, 3, generator=gen) * 2 - 1
    masks = {
        "softmax": torch.softmax(torch.randn(n, k + 1, *mask_size, generator=gen) * 3, 1),
        "arbitrary": torch.randn(n, k + 1, *mask_size, generator=gen),
    }
    for mname, mask in masks.items():
        for layout, (f, m) in {
            "contiguous": (feature, mask),
            "channels-last": (
                feature.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3),
                mask.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3),
            ),
        }.items():
            want_warped, want_def = reference.dense_warp(f, m, ks, kd, return_deformation=True)
            warped, deformation = kernels.dense_warp(f, m, ks, kd, return_deformation=True, backend="cpp")
            # The deformation is a sum of K+1 products; its rounding scale is sum |mask_j * motion_j|.
            motions = reference.sparse_motions(ks, kd, mask_size)
            scale = (motions.abs() * m.abs().unsqueeze(-1)).sum(1).clamp_min(1.0)
            assert ((deformation - want_def).abs() / scale).max() <= 1e-6, f"{mname} {layout}"
            # The warp itself must be grid_sample of the returned deformation.
            resampled = F.grid_sample(f, deformation, mode="bilinear", padding_mode="zeros", align_corners=False)
            torch.testing.assert_close(warped, resampled, rtol=0, atol=1e-5, msg=f"{mname} {layout}")
            torch.testing.assert_close(warped, want_warped, rtol=0, atol=5e-4, msg=f"{mname} {layout}")
            alone = kernels.dense_warp(f, m, ks, kd, backend="cpp")
            assert torch.equal(alone, warped)


def test_liveportrait_warping_fixture(isa: str, fixtures_dir: Path, lp_depth_slice: int) -> None:
    from safetensors.torch import load_file

    data = load_file(fixtures_dir / "liveportrait/warping_module.io.safetensors")
    feature, ks, kd = data["dm.compressed_feature"], data["kp_source"], data["kp_driving"]
    out = kernels.deform_features(feature, ks, kd, backend="cpp")
    n, groups, c1, d, h, w = out.shape
    # Hourglass input is (N, (K+1)*(C+1), D, H, W); the fixture keeps one depth slice of it.
    hourglass_slice = out.reshape(n, groups * c1, d, h, w)[:, :, lp_depth_slice]
    torch.testing.assert_close(hourglass_slice, data["dm.hourglass_input_slice"], rtol=0, atol=1e-5)
    volume, deformation = data["feature_3d"], data["out.deformation"]
    want = F.grid_sample(volume, deformation, mode="bilinear", padding_mode="zeros", align_corners=False)
    torch.testing.assert_close(kernels.grid_sample_3d(volume, deformation, backend="cpp"), want, rtol=0, atol=1e-5)
