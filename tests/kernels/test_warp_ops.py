"""grid_sample_3d, deform_features and dense_warp: every backend against the PyTorch reference."""

from __future__ import annotations

import pytest
import torch

from pyavatar import kernels
from pyavatar.kernels import reference
from tests.kernels._cases import WARP_CASES, assert_close_to_reference, require, small


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _grid(shape: tuple[int, ...], spread: float, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=g) * 2 - 1) * spread


# ----------------------------------------------------------------------------- grid_sample_3d


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_3d_random(backend, device, dtype, padding_mode, align_corners):
    require("grid_sample_3d", backend, device, dtype)
    g = _gen(0)
    shape = (2, 3, 4, 5, 6) if small(backend, device) else (2, 5, 7, 9, 11)
    out_sp = (3, 4, 5) if small(backend, device) else (6, 8, 10)
    x = torch.randn(shape, generator=g)
    grid = _grid((shape[0], *out_sp, 3), 1.3, g)  # includes points outside [-1, 1]
    ref64 = reference.grid_sample_3d(x.double(), grid.double(), padding_mode, align_corners)
    xd, gd = x.to(device, dtype), grid.to(device, dtype)
    out = kernels.grid_sample_3d(xd, gd, padding_mode, align_corners, backend=backend)
    same = reference.grid_sample_3d(xd, gd, padding_mode, align_corners)
    assert_close_to_reference(out.cpu(), ref64, same.cpu())


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_3d_edges(backend, device, dtype, padding_mode, align_corners):
    """Points exactly on voxel centres, on the ±1 borders, half a voxel out and far outside."""
    require("grid_sample_3d", backend, device, dtype)
    x = torch.randn(1, 2, 3, 4, 5, generator=_gen(1))
    values = torch.tensor([-50.0, -1.5, -1.0, -0.75, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.2, 1e4])
    coords = torch.cartesian_prod(values, values, values).view(1, 12, 12, 12, 3)
    ref64 = reference.grid_sample_3d(x.double(), coords.double(), padding_mode, align_corners)
    xd, cd = x.to(device, dtype), coords.to(device, dtype)
    out = kernels.grid_sample_3d(xd, cd, padding_mode, align_corners, backend=backend)
    same = reference.grid_sample_3d(xd, cd, padding_mode, align_corners)
    assert_close_to_reference(out.cpu(), ref64, same.cpu())


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
def test_grid_sample_3d_non_contiguous(backend, device, dtype):
    """Channels-last volume, permuted grid and a sliced batch give the same result as contiguous inputs."""
    require("grid_sample_3d", backend, device, dtype)
    g = _gen(2)
    base = torch.randn(3, 4, 5, 6, 3, generator=g).to(device, dtype)  # (N, D, H, W, C)
    x = base.permute(0, 4, 1, 2, 3)[::2]  # (2, 3, 4, 5, 6) non-contiguous
    grid = _grid((2, 3, 4, 5, 3), 1.1, g).to(device, dtype).transpose(1, 3).contiguous().transpose(1, 3)
    assert not x.is_contiguous() and not grid.is_contiguous()
    out = kernels.grid_sample_3d(x, grid, backend=backend)
    expect = kernels.grid_sample_3d(x.contiguous(), grid.contiguous(), backend=backend)
    torch.testing.assert_close(out, expect, rtol=0, atol=0)
    torch.testing.assert_close(out.float(), reference.grid_sample_3d(x, grid).float(), rtol=1e-3, atol=2e-3)


# ----------------------------------------------------------------------------- deform_features


def _keypoints(n: int, k: int, g: torch.Generator, spread: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    ks = (torch.rand(n, k, 3, generator=g) * 2 - 1) * spread
    kd = ks + 0.2 * torch.randn(n, k, 3, generator=g)
    return ks, kd


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
def test_deform_features_random(backend, device, dtype):
    require("deform_features", backend, device, dtype)
    g = _gen(3)
    shape = (2, 2, 3, 4, 5) if small(backend, device) else (2, 4, 5, 9, 8)
    k = 3 if small(backend, device) else 7
    f = torch.randn(shape, generator=g)
    ks, kd = _keypoints(shape[0], k, g)
    ref64 = reference.deform_features(f.double(), ks.double(), kd.double())
    args = [t.to(device, dtype) for t in (f, ks, kd)]
    out = kernels.deform_features(*args, backend=backend)
    assert out.shape == (shape[0], k + 1, shape[1] + 1, *shape[2:])
    assert_close_to_reference(out.cpu(), ref64, reference.deform_features(*args).cpu())


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
def test_deform_features_edges(backend, device, dtype):
    """Zero motion, offsets landing exactly on voxel boundaries, and keypoints far outside the volume."""
    require("deform_features", backend, device, dtype)
    f = torch.randn(1, 2, 3, 4, 5, generator=_gen(4))
    ks = torch.tensor([[[0.0, 0.0, 0.0], [0.5, -0.5, 1.0], [3.0, -7.0, 20.0], [0.25, 0.25, 0.25]]])
    kd = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-0.25, 0.75, -0.75]]])
    ref64 = reference.deform_features(f.double(), ks.double(), kd.double(), 0.02)
    args = [t.to(device, dtype) for t in (f, ks, kd)]
    out = kernels.deform_features(*args, kp_variance=0.02, backend=backend)
    assert_close_to_reference(out.cpu(), ref64, reference.deform_features(*args, 0.02).cpu())
    assert (out[:, 0, 0] == 0).all(), "group 0 carries no heatmap"


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
def test_deform_features_non_contiguous(backend, device, dtype):
    require("deform_features", backend, device, dtype)
    g = _gen(5)
    f = torch.randn(2, 4, 5, 6, 3, generator=g).to(device, dtype).permute(0, 4, 1, 2, 3)
    ks, kd = (t.to(device, dtype).transpose(1, 2).contiguous().transpose(1, 2) for t in _keypoints(2, 3, g))
    out = kernels.deform_features(f, ks, kd, backend=backend)
    expect = kernels.deform_features(f.contiguous(), ks.contiguous(), kd.contiguous(), backend=backend)
    torch.testing.assert_close(out, expect, rtol=0, atol=0)


# ----------------------------------------------------------------------------- dense_warp


def _mask(n: int, k1: int, spatial: tuple[int, int, int], g: torch.Generator) -> torch.Tensor:
    return torch.softmax(3 * torch.randn(n, k1, *spatial, generator=g), dim=1)


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
@pytest.mark.parametrize("same_size", [True, False])
def test_dense_warp_random(backend, device, dtype, same_size):
    require("dense_warp", backend, device, dtype)
    g = _gen(6)
    sp = (3, 4, 5) if small(backend, device) else (5, 8, 9)
    fsp = sp if same_size else (4, 6, 7)
    k = 3 if small(backend, device) else 6
    f = torch.randn(2, 3, *fsp, generator=g)
    m = _mask(2, k + 1, sp, g)
    ks, kd = _keypoints(2, k, g)
    w64, d64 = reference.dense_warp(f.double(), m.double(), ks.double(), kd.double(), True)
    args = [t.to(device, dtype) for t in (f, m, ks, kd)]
    warped, deformation = kernels.dense_warp(*args, return_deformation=True, backend=backend)
    w_same, d_same = reference.dense_warp(*args, return_deformation=True)
    assert_close_to_reference(warped.cpu(), w64, w_same.cpu())
    assert_close_to_reference(deformation.cpu(), d64, d_same.cpu())
    only = kernels.dense_warp(*args, backend=backend)
    torch.testing.assert_close(only, warped, rtol=0, atol=0)


@pytest.mark.parametrize("backend,device,dtype", WARP_CASES)
def test_dense_warp_unnormalised_mask_and_strides(backend, device, dtype):
    """The deformation is Σ mask_j · motion_j even when the mask does not sum to one; strided inputs."""
    require("dense_warp", backend, device, dtype)
    g = _gen(7)
    f = torch.randn(2, 3, 4, 5, 2, generator=g).permute(0, 4, 1, 2, 3)  # (2, 2, 3, 4, 5)
    m = torch.rand(2, 4, 3, 4, 5, generator=g) * 0.7
    ks, kd = _keypoints(2, 3, g)
    w64, d64 = reference.dense_warp(f.double(), m.double(), ks.double(), kd.double(), True)
    args = [t.to(device, dtype) for t in (f, m, ks, kd)]
    warped, deformation = kernels.dense_warp(*args, return_deformation=True, backend=backend)
    w_same, d_same = reference.dense_warp(*args, return_deformation=True)
    assert_close_to_reference(warped.cpu(), w64, w_same.cpu())
    assert_close_to_reference(deformation.cpu(), d64, d_same.cpu())
