"""Backend selection, availability report, argument validation and torch.library registration."""

from __future__ import annotations

import pytest
import torch

from pyavatar import kernels
from pyavatar.kernels import BackendUnavailable, dispatch, reference


def test_core_module_is_built():
    """The C++ module must import: a broken build would otherwise only show up as skipped tests."""
    import pyavatar._core as core

    info = core.build_info()
    assert info["compiled_isas"], info
    assert core.active_isa() in info["compiled_isas"]


@pytest.mark.parametrize("isa", ["v2", "v3", "base"])
def test_every_compiled_isa_build_agrees(isa):
    """Each per-ISA build of the CPU kernels gives the reference result."""
    import pyavatar._core as core

    info = core.build_info()
    if isa not in info["compiled_isas"] or (isa == "v3" and not info["cpu_supports_v3"]):
        pytest.skip(f"ISA {isa} not compiled in or not supported by this CPU ({info})")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 4, 5, 6, generator=g)
    grid = torch.rand(1, 3, 4, 5, 3, generator=g) * 2.2 - 1.1
    ks, kd = torch.rand(2, 1, 4, 3, generator=g) * 2 - 1
    mask = torch.softmax(torch.randn(1, 5, 4, 5, 6, generator=g), 1)
    q, k, v = torch.randn(3, 1, 9, 2, 8, generator=g)
    (pos,) = torch.randn(1, 17, 2, 8, generator=g)
    u, vb = torch.randn(2, 2, 8, generator=g)
    previous = core.active_isa()
    core.set_active_isa(isa)
    try:
        torch.testing.assert_close(kernels.grid_sample_3d(x, grid, backend="cpp"), reference.grid_sample_3d(x, grid))
        torch.testing.assert_close(
            kernels.deform_features(x, ks, kd, backend="cpp"), reference.deform_features(x, ks, kd)
        )
        torch.testing.assert_close(
            kernels.dense_warp(x, mask, ks, kd, backend="cpp"), reference.dense_warp(x, mask, ks, kd)
        )
        torch.testing.assert_close(
            kernels.relpos_attention(q, k, v, pos, u, vb, backend="cpp"),
            reference.relpos_attention(q, k, v, pos, u, vb),
        )
    finally:
        core.set_active_isa(previous)


def test_set_active_isa_rejects_unknown_names():
    import pyavatar._core as core

    with pytest.raises(ValueError, match="unknown CPU ISA 'avx9000'"):
        core.set_active_isa("avx9000")


def test_backends_report_every_backend_with_reasons():
    rows = {r.name: r for r in kernels.backends()}
    assert set(rows) == {"cpp", "cuda", "cupy", "triton", "torch"}
    assert rows["cpp"].available and rows["torch"].available
    for r in rows.values():
        assert r.available == (r.reason == "ok")
        assert r.reason, r


def test_automatic_selection_on_cpu_is_cpp_for_fp32_and_torch_otherwise():
    assert dispatch.select("grid_sample_3d", torch.device("cpu"), torch.float32).name == "cpp"
    assert dispatch.select("grid_sample_3d", torch.device("cpu"), torch.float64).name == "torch"


def test_forced_backend_that_cannot_run_names_the_reason():
    x = torch.randn(1, 1, 2, 2, 2, dtype=torch.float64)
    grid = torch.zeros(1, 1, 1, 1, 3, dtype=torch.float64)
    with pytest.raises(BackendUnavailable, match="backend='cpp' cannot run on cpu/torch.float64: float32 only"):
        kernels.grid_sample_3d(x, grid, backend="cpp")
    with pytest.raises(BackendUnavailable, match="unknown kernel backend 'fast'"):
        kernels.grid_sample_3d(x, grid, backend="fast")


def test_environment_variable_forces_backend(monkeypatch):
    x = torch.randn(1, 2, 3, 3, 3)
    grid = torch.rand(1, 2, 2, 2, 3) * 2 - 1
    monkeypatch.setenv(dispatch.ENV_BACKEND, "torch")
    assert dispatch.select("grid_sample_3d", x.device, x.dtype).name == "torch"
    monkeypatch.setenv(dispatch.ENV_BACKEND, "cuda")
    with pytest.raises(BackendUnavailable, match=f"{dispatch.ENV_BACKEND}='cuda'"):
        kernels.grid_sample_3d(x, grid)


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: kernels.grid_sample_3d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1, 3)),
            r"argument 'input' must be 5-D \(N, C, D, H, W\), got shape \(1, 1, 2, 2\)",
        ),
        (
            lambda: kernels.grid_sample_3d(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 2)),
            r"argument 'grid' must have shape \(N, Do, Ho, Wo, 3\)",
        ),
        (
            lambda: kernels.grid_sample_3d(torch.zeros(2, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3)),
            r"batch size N must agree across arguments, got input=2, grid=1",
        ),
        (
            lambda: kernels.grid_sample_3d(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3, dtype=torch.float64)),
            r"argument 'grid' must have dtype float32 like the other inputs, got float64",
        ),
        (
            lambda: kernels.grid_sample_3d(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3), "reflection"),
            r"padding_mode must be 'zeros' or 'border', got 'reflection'",
        ),
        (
            lambda: kernels.grid_sample_3d(torch.zeros(1, 1, 2, 2, 2, dtype=torch.int32), torch.zeros(1, 1, 1, 1, 3)),
            r"argument 'input' must have dtype in \(float32, float16, bfloat16, float64\), got int32",
        ),
        (
            lambda: kernels.deform_features(torch.zeros(1, 1, 1, 2, 2), torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)),
            r"at least 2 samples per spatial axis .* got \(D, H, W\) = \(1, 2, 2\)",
        ),
        (
            lambda: kernels.deform_features(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 2, 3), torch.zeros(1, 3, 3)),
            r"keypoint count K must agree across arguments, got kp_source=2, kp_driving=3",
        ),
        (
            lambda: kernels.dense_warp(
                torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 2, 2, 2, 2), torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)
            ),
            r"argument 'mask' must have K\+1 = 3 channels, got 2",
        ),
        (
            lambda: kernels.relpos_attention(
                *torch.zeros(3, 1, 4, 2, 8), torch.zeros(6, 2, 8), torch.zeros(2, 8), torch.zeros(2, 8)
            ),
            r"argument 'pos' must have shape \(7, 2, 8\), got \(6, 2, 8\)",
        ),
        (
            lambda: kernels.relpos_attention(
                *torch.zeros(3, 1, 4, 2, 8), torch.zeros(7, 2, 8), torch.zeros(2, 8), torch.zeros(2, 8), context=(2, -3)
            ),
            r"context must be \(left, right\) integers >= -1, got \(2, -3\)",
        ),
        (
            lambda: kernels.relpos_attention(
                *torch.zeros(3, 1, 4, 1, 513), torch.zeros(7, 1, 513), torch.zeros(1, 513), torch.zeros(1, 513)
            ),
            r"head dim Dk=513 exceeds the supported maximum 512",
        ),
    ],
)
def test_validation_errors_name_the_argument(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_empty_batches_return_empty_results():
    out = kernels.grid_sample_3d(torch.zeros(0, 2, 3, 3, 3), torch.zeros(0, 4, 4, 4, 3))
    assert out.shape == (0, 2, 4, 4, 4)
    att = kernels.relpos_attention(
        *torch.zeros(3, 0, 4, 2, 8), torch.zeros(7, 2, 8), torch.zeros(2, 8), torch.zeros(2, 8)
    )
    assert att.shape == (0, 4, 2, 8)


def test_ops_are_registered_with_torch_library():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 3, 4, 5, generator=g)
    grid = torch.rand(1, 2, 3, 4, 3, generator=g) * 2 - 1
    out = torch.ops.pyavatar.grid_sample_3d(x, grid, "zeros", False, "cpp")
    torch.testing.assert_close(out, reference.grid_sample_3d(x, grid))
    ks, kd = torch.rand(2, 1, 3, 3, generator=g)
    warped, deformation = torch.ops.pyavatar.dense_warp(
        x, torch.softmax(torch.randn(1, 4, 3, 4, 5), 1), ks, kd, False, "cpp"
    )
    assert warped.shape == (1, 2, 3, 4, 5) and deformation.numel() == 0
    for name in ("grid_sample_3d", "deform_features", "dense_warp", "relpos_attention"):
        torch.library.opcheck(
            getattr(torch.ops.pyavatar, name), _opcheck_args(name), test_utils=("test_schema", "test_faketensor")
        )


def _opcheck_args(name: str) -> tuple:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 2, 3, 4, 5, generator=g)
    ks, kd = torch.rand(2, 1, 3, 3, generator=g)
    if name == "grid_sample_3d":
        return (x, torch.rand(1, 2, 2, 2, 3, generator=g) * 2 - 1, "border", True, "cpp")
    if name == "deform_features":
        return (x, ks, kd, 0.01, "cpp")
    if name == "dense_warp":
        return (x, torch.softmax(torch.randn(1, 4, 3, 4, 5, generator=g), 1), ks, kd, True, "cpp")
    q, k, v = torch.randn(3, 1, 5, 2, 8, generator=g)
    return (
        q,
        k,
        v,
        torch.randn(1, 9, 2, 8, generator=g).expand(1, 9, 2, 8),
        *torch.randn(2, 2, 8, generator=g),
        None,
        -1,
        0,
        0.35,
        "cpp",
    )


def test_ops_compose_with_torch_compile():
    """The custom op is traced as one node by torch.compile and gives the eager result."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 3, 4, 5, generator=g)
    grid = torch.rand(1, 2, 3, 4, 3, generator=g) * 2 - 1

    def step(vol: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
        return kernels.grid_sample_3d(vol * 2.0, pts).sum(dim=1)

    compiled = torch.compile(step, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, grid), step(x, grid))


def test_inference_mode_works():
    x = torch.randn(1, 1, 2, 3, 4)
    with torch.inference_mode():
        out = kernels.grid_sample_3d(x, torch.zeros(1, 1, 1, 1, 3))
    assert out.shape == (1, 1, 1, 1, 1)


def test_zero_keypoints_give_the_identity_group_only():
    """K = 0 (torch hands empty tensors a null pointer) works and matches the reference."""
    x = torch.randn(1, 2, 3, 4, 5)
    none = torch.zeros(1, 0, 3)
    out = kernels.deform_features(x, none, none, backend="cpp")
    torch.testing.assert_close(out, reference.deform_features(x, none, none))
    mask = torch.ones(1, 1, 3, 4, 5)
    torch.testing.assert_close(
        kernels.dense_warp(x, mask, none, none, backend="cpp"), reference.dense_warp(x, mask, none, none)
    )
