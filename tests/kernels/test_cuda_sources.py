"""The CUDA kernel sources, run on the CPU through a host emulation of CUDA (no GPU needed).

``csrc/*/*.cuh`` are compiled by the host C++ compiler together with
``cuda_emu.h`` (every CUDA thread is an OS thread; barriers, warp shuffles and
shared memory emulated) into a small shared library. The CuPy backend's own op
methods and launch plans then drive them on CPU tensors, so these tests cover
the kernel bodies, the launch geometry and the argument packing of
``pyavatar.kernels._cupy`` against the reference. What they cannot cover:
the GPU's own arithmetic (FMA contraction, ``expf``), NVRTC, and the nvcc-built
launchers of ``pyavatar._cuda`` (those need a GPU: the ``cuda``-marked tests).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from pyavatar.kernels import _cupy, reference
from pyavatar.kernels.spec import DeformFeaturesArgs, DenseWarpArgs, GridSample3dArgs, RelposAttentionArgs

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
ATOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # + the same relative


def _host_compiler() -> str | None:
    for name in ("c++", "g++", "clang++"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The kernel headers compiled against the host emulation, with a registry of every kernel."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the host emulation runs CUDA threads as ucontext fibers (Linux only)")
    cxx = _host_compiler()
    if cxx is None:
        pytest.skip("no host C++ compiler (c++, g++ or clang++) on PATH")
    names = [name for op in _cupy.SOURCES for name in _cupy.kernel_names(op)]
    includes = "\n".join(f'#include "{_cupy.find_source(op)}"' for op in _cupy.SOURCES)
    entries = ",\n".join(f'    {{"{n}", emu::describe(&{n})}}' for n in names)
    conversions = "\n".join(
        f"""extern "C" void emu_{ns}_{t}(const float* x, unsigned short* to, float* back, long long n) {{
  for (long long i = 0; i < n; ++i) {{
    to[i] = {ns}::from_float<{ns}::{t}>(x[i]).bits;
    {ns}::{t} h; h.bits = static_cast<unsigned short>(i & 0xffff); back[i] = {ns}::to_float(h);
  }}
}}"""
        for ns in ("pyavatar_cuda",)
        for t in ("f16", "bf16")
    )
    source = f"""#include "cuda_emu.h"
{includes}

std::map<std::string, emu::Kernel>& emu::registry() {{
  static std::map<std::string, emu::Kernel> kernels = {{
{entries}
  }};
  return kernels;
}}

{conversions}
"""
    build = tmp_path_factory.mktemp("cuda_emu")
    (build / "kernels.cpp").write_text(source)
    lib = build / "libkernels.so"
    cmd = [
        cxx,
        "-std=c++17",
        "-O1",
        "-pthread",
        "-shared",
        "-fPIC",
        f"-I{HERE}",
        "-o",
        str(lib),
        str(build / "kernels.cpp"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"host build of the kernel headers failed:\n{result.stderr[-6000:]}"
    dll = ctypes.CDLL(str(lib))
    dll.emu_launch.restype = ctypes.c_int
    return dll


class EmulatedCupy(_cupy.CupyBackend):
    """The CuPy backend with its kernel launches sent to the emulation library."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        super().__init__()
        self.lib = lib
        self.launches: list[_cupy.Launch] = []

    def _launch(self, op: str, launch: _cupy.Launch, device: torch.device) -> None:
        assert launch.kernel in _cupy.kernel_names(op)
        kinds = ""
        for a in launch.args:
            if not (isinstance(a, np.ndarray) and a.dtype.names is not None and a.size == 1):
                raise TypeError(f"{launch.kernel}: CuPy passes a struct by value as a one-element structured array")
            kinds += f"s{a.dtype.itemsize}"
        args = (ctypes.c_void_p * len(launch.args))(*[a.ctypes.data for a in launch.args])
        error = ctypes.create_string_buffer(512)
        rc = self.lib.emu_launch(
            launch.kernel.encode(),
            (ctypes.c_uint * 3)(*launch.grid),
            (ctypes.c_uint * 3)(*launch.block),
            args,
            kinds.encode(),
            error,
            len(error),
        )
        assert rc == 0, error.value.decode()
        self.launches.append(launch)


@pytest.fixture(scope="module")
def backend(emu: ctypes.CDLL) -> EmulatedCupy:
    return EmulatedCupy(emu)


def _close(out: Tensor, ref: Tensor, dtype: torch.dtype) -> None:
    assert out.dtype == dtype and out.shape == ref.shape
    torch.testing.assert_close(out.double(), ref.double(), atol=ATOL[dtype], rtol=ATOL[dtype])


def _rounded(*tensors: Tensor, dtype: torch.dtype) -> list[Tensor]:
    """The inputs rounded to ``dtype``; the reference then runs on their exact values in float64."""
    return [t.to(dtype) for t in tensors]


# ----------------------------------------------------------------------------- conversions


def test_half_conversions_round_to_nearest_even_like_torch(emu: ctypes.CDLL):
    g = torch.Generator().manual_seed(0)
    halves = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(torch.float16).float()
    midpoints = (halves[:-1].double() + halves[1:].double()) / 2  # exact in fp32: ties of every kind
    bits = torch.randint(-(2**31), 2**31 - 1, (1 << 18,), generator=g, dtype=torch.int64).to(torch.int32)
    x = torch.cat(
        [
            bits.view(torch.float32),
            (torch.rand(1 << 16, generator=g) * 2 - 1) * 70000,
            (torch.rand(1 << 16, generator=g) * 2 - 1) * 1e-4,
            midpoints.float(),
            halves,
            torch.tensor([0.0, -0.0, 65504.0, 65519.99, 65520.0, float("inf"), -float("inf"), float("nan"), 1e-45]),
        ]
    ).contiguous()
    n = x.numel()
    for ns in ("pyavatar_cuda",):
        for name, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            to = torch.empty(n, dtype=torch.int16)
            back = torch.empty(n, dtype=torch.float32)
            getattr(emu, f"emu_{ns}_{name}")(
                ctypes.c_void_p(x.data_ptr()),
                ctypes.c_void_p(to.data_ptr()),
                ctypes.c_void_p(back.data_ptr()),
                ctypes.c_longlong(n),
            )
            expected = x.to(dtype)
            got = to.view(dtype)
            nan = torch.isnan(expected)
            assert torch.equal(torch.isnan(got), nan), f"{ns} {name}: NaN handling"
            assert torch.equal(got[~nan].view(torch.int16), expected[~nan].view(torch.int16)), f"{ns} {name}: rounding"
            every = torch.arange(n, dtype=torch.int64).remainder(1 << 16).to(torch.int32).to(torch.int16).view(dtype)
            decoded = every.float()
            nan = torch.isnan(decoded)
            assert torch.equal(torch.isnan(back), nan), f"{ns} {name}: decode of NaN"
            assert torch.equal(back[~nan], decoded[~nan]), f"{ns} {name}: decode"


# ----------------------------------------------------------------------------- grid_sample_3d


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_3d(backend, dtype, padding_mode, align_corners):
    g = torch.Generator().manual_seed(1)
    volume = torch.randn(2, 11, 3, 5, 6, 3, generator=g)[..., 1].transpose(3, 4)  # (2, 11, 3, 6, 5), strided
    grid = (torch.rand(2, 3, 4, 5, 7, generator=g) * 2.6 - 1.3).permute(0, 2, 3, 4, 1)[..., :3]  # last-axis stride != 1
    volume, grid = _rounded(volume, grid, dtype=dtype)
    (out,) = backend.run("grid_sample_3d", GridSample3dArgs(volume, grid, padding_mode, align_corners))
    assert backend.launches[-1].grid[1] == 2  # two chunks of channels
    ref = reference.grid_sample_3d(volume.double(), grid.double(), padding_mode, align_corners)
    _close(out, ref, dtype)


def test_grid_sample_3d_grid_stride_loop_covers_work_beyond_the_launch(backend, monkeypatch):
    monkeypatch.setattr(_cupy, "WARP_MAX_BLOCKS", 1)
    g = torch.Generator().manual_seed(2)
    volume = torch.randn(1, 2, 4, 4, 4, generator=g)
    grid = torch.rand(1, 6, 7, 9, 3, generator=g) * 2 - 1  # 378 points > 256 threads
    (out,) = backend.run("grid_sample_3d", GridSample3dArgs(volume, grid, "zeros", False))
    assert backend.launches[-1].grid == (1, 1, 1)
    _close(out, reference.grid_sample_3d(volume.double(), grid.double()), torch.float32)


def test_grid_sample_3d_single_voxel_copies_values_exactly(backend):
    """1x1x1 volumes with align_corners=True have one tap of weight 1: output == input, inf and NaN included."""
    values = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(torch.float16)
    volume = values.view(-1, 1, 1, 1, 1)  # one volume per batch entry
    grid = torch.zeros(values.numel(), 1, 1, 1, 3, dtype=torch.float16)
    (out,) = backend.run("grid_sample_3d", GridSample3dArgs(volume, grid, "zeros", True))
    nan = values.isnan()
    assert torch.equal(out.flatten()[~nan], values[~nan])  # by value: 0 + (-0.0) is +0.0, as in torch
    assert out.flatten()[nan].isnan().all()


# ----------------------------------------------------------------------------- deform_features


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kp_variance", [0.01, 0.2])
def test_deform_features(backend, dtype, kp_variance):
    g = torch.Generator().manual_seed(3)
    feature = torch.randn(2, 3, 5, 4, 6, generator=g).permute(0, 1, 3, 2, 4)  # (2, 3, 4, 5, 6), strided
    kp_source = torch.rand(2, 4, 4, generator=g)[..., :3] * 2.2 - 1.1
    kp_driving = (torch.rand(2, 4, 3, generator=g) * 2.2 - 1.1).transpose(1, 2).contiguous().transpose(1, 2)
    feature, kp_source, kp_driving = _rounded(feature, kp_source, kp_driving, dtype=dtype)
    (out,) = backend.run("deform_features", DeformFeaturesArgs(feature, kp_source, kp_driving, kp_variance))
    ref = reference.deform_features(feature.double(), kp_source.double(), kp_driving.double(), kp_variance)
    _close(out, ref, dtype)


def test_deform_features_without_keypoints(backend):
    feature = torch.randn(1, 2, 3, 3, 4)
    none = torch.zeros(1, 0, 3)
    (out,) = backend.run("deform_features", DeformFeaturesArgs(feature, none, none, 0.01))
    _close(out, reference.deform_features(feature.double(), none.double(), none.double()), torch.float32)


# ----------------------------------------------------------------------------- dense_warp


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("return_deformation", [False, True])
def test_dense_warp(backend, dtype, return_deformation):
    g = torch.Generator().manual_seed(4)
    feature = torch.randn(2, 10, 4, 7, 6, generator=g)[:, :, :, 1:6]  # (2, 10, 4, 5, 6), strided: 2 chunks
    mask = torch.softmax(torch.randn(2, 3, 4, 5, 4, generator=g) * 3, 2).permute(0, 2, 1, 3, 4)  # (2, 4, 3, 5, 4)
    kp_source = torch.rand(2, 3, 3, generator=g) * 1.6 - 0.8
    kp_driving = (torch.rand(2, 3, 3, generator=g) * 1.6 - 0.8).transpose(1, 2).contiguous().transpose(1, 2)
    feature, mask, kp_source, kp_driving = _rounded(feature, mask, kp_source, kp_driving, dtype=dtype)
    outputs = backend.run("dense_warp", DenseWarpArgs(feature, mask, kp_source, kp_driving, return_deformation))
    out = outputs[0]
    ref, ref_def = reference.dense_warp(
        feature.double(), mask.double(), kp_source.double(), kp_driving.double(), return_deformation=True
    )
    _close(out, ref, dtype)
    if return_deformation:
        _close(outputs[1], ref_def, dtype)
    else:
        assert len(outputs) == 1


# ----------------------------------------------------------------------------- relpos_attention


def _attention_inputs(b: int, t: int, h: int, dk: int, seed: int, shared_pos: bool) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(b, t, 3, h, dk, generator=g)  # q, k, v interleaved: strided views
    q, k, v = qkv.unbind(2)
    if shared_pos:
        pos = torch.randn(1, 2 * t - 1, h, dk, generator=g).expand(b, 2 * t - 1, h, dk)  # batch stride 0
    else:
        pos = torch.randn(b, h, 2 * t - 1, dk, generator=g).transpose(1, 2)
    u = torch.randn(dk, h, generator=g).t()
    w = torch.randn(h, dk, generator=g)
    return [q, k, v, pos, u, w]


ATTENTION_SHAPES = [  # (B, T, H, Dk): Dk bounds 64/128/256/512, partial chunks, 1 and several key tiles
    (2, 1, 1, 8),
    (2, 17, 2, 48),
    (1, 40, 2, 80),
    (1, 70, 1, 33),
    (1, 19, 1, 300),
    (1, 9, 1, 512),
]
CONTEXTS = [(-1, -1), (-1, 0), (3, 2), (0, 0), (5, -1), (-1, 40)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", ATTENTION_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_relpos_attention(backend, dtype, shape):
    b, t, h, dk = shape
    inputs = _rounded(*_attention_inputs(b, t, h, dk, seed=t + dk, shared_pos=b > 1), dtype=dtype)
    (out,) = backend.run("relpos_attention", RelposAttentionArgs(*inputs, None, -1, -1, dk**-0.5))
    assert backend.launches[-1].kernel.endswith(f"_d{next(x for x in (64, 128, 256, 512) if dk <= x)}")
    ref = reference.relpos_attention(*(x.double() for x in inputs), scale=dk**-0.5)
    _close(out, ref, dtype)


@pytest.mark.parametrize("context", CONTEXTS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_relpos_attention_masks_and_windows(backend, context, dtype):
    b, t, h, dk = 3, 37, 2, 16
    inputs = _rounded(*_attention_inputs(b, t, h, dk, seed=7, shared_pos=False), dtype=dtype)
    key_mask = torch.ones(b, t, dtype=torch.uint8)
    key_mask[0, 20:] = 0  # padding at the end
    key_mask[1, ::3] = 0  # holes
    key_mask[2] = 0  # no valid key at all: zeros
    left, right = context
    (out,) = backend.run("relpos_attention", RelposAttentionArgs(*inputs, key_mask, left, right, 0.3))
    ctx = None if context == (-1, -1) else context
    ref = reference.relpos_attention(*(x.double() for x in inputs), key_mask=key_mask, context=ctx, scale=0.3)
    _close(out, ref, dtype)
    assert torch.equal(out[2], torch.zeros_like(out[2]))


def test_relpos_attention_rows_without_allowed_keys_are_zero(backend):
    """Window ahead of a masked tail: late queries see only masked keys."""
    b, t, h, dk = 1, 33, 1, 8
    inputs = _attention_inputs(b, t, h, dk, seed=9, shared_pos=False)
    key_mask = torch.ones(b, t, dtype=torch.uint8)
    key_mask[0, 10:] = 0
    (out,) = backend.run("relpos_attention", RelposAttentionArgs(*inputs, key_mask, 2, 0, 1.0))
    ref = reference.relpos_attention(*(x.double() for x in inputs), key_mask=key_mask, context=(2, 0), scale=1.0)
    _close(out, ref, torch.float32)
    assert torch.equal(out[0, 12:], torch.zeros_like(out[0, 12:]))
    assert out[0, :12].abs().sum() > 0
