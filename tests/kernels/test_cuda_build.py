"""The CUDA sources compile; the CUDA and CuPy backends explain themselves without a GPU.

Compiling needs a compiler, not a GPU (skipped without one), for one
architecture to keep the tests short: with nvcc, each host launcher
``csrc/*/*_cuda.cu`` to an object and each kernel header ``csrc/*/*.cuh`` on
its own to PTX; with NVRTC (libnvrtc from a CUDA toolkit or the
``nvidia-cuda-nvrtc-cu12`` wheel), each op's source exactly as the CuPy
backend hands it to NVRTC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from pyavatar import kernels
from pyavatar.kernels import _cuda, _cupy

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = sorted((ROOT / "csrc").glob("*/*_cuda.cu"))
HEADERS = sorted((ROOT / "csrc").glob("*/*.cuh"))
ARCH = "80"
OPS = tuple(_cupy.SOURCES)


def _nvcc() -> str | None:
    candidates = [os.environ.get("CUDACXX"), shutil.which("nvcc")]
    if os.environ.get("CUDA_HOME"):
        candidates.append(str(Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"))
    candidates.append("/usr/local/cuda/bin/nvcc")
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def nvcc() -> str:
    path = _nvcc()
    if path is None:
        pytest.skip("nvcc not found (CUDACXX, PATH, CUDA_HOME, /usr/local/cuda): CUDA sources not compiled")
    return path


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stderr[-6000:]}"


def test_sources_are_present():
    assert {p.name for p in LAUNCHERS} == {f"{op}_cuda.cu" for op in OPS}
    assert {_cupy.SOURCES[op] for op in OPS} <= {p.name for p in HEADERS}


@pytest.mark.parametrize("source", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_compiles(nvcc, source, tmp_path):
    _run(
        [
            nvcc,
            "-std=c++17",
            "-O3",
            "-c",
            f"-arch=sm_{ARCH}",
            f"-I{ROOT / 'csrc'}",
            f"-I{ROOT}",
            "-o",
            str(tmp_path / "launcher.o"),
            str(source),
        ]
    )


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_kernel_header_compiles_alone_with_the_expected_kernels(nvcc, header, tmp_path):
    ptx = tmp_path / "kernels.ptx"
    _run([nvcc, "-std=c++17", "--ptx", f"-arch=compute_{ARCH}", "-x", "cu", "-o", str(ptx), str(header)])
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    ops = [op for op in OPS if _cupy.SOURCES[op] == header.name]
    assert entries == {name for op in ops for name in _cupy.kernel_names(op)}


def _libnvrtc() -> ctypes.CDLL | None:
    candidates = []
    spec = importlib.util.find_spec("nvidia")  # namespace package of NVIDIA's pip wheels
    roots = (spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        candidates += sorted(Path(root).glob("cuda_nvrtc/lib/libnvrtc.so*"))
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home:
            candidates += sorted(Path(home).glob("lib64/libnvrtc.so*"))
    found = ctypes.util.find_library("nvrtc")
    candidates += [Path(found)] if found else []
    for path in candidates:
        if "builtins" in path.name or ".alt." in path.name:
            continue
        try:
            return ctypes.CDLL(str(path))
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def nvrtc() -> ctypes.CDLL:
    lib = _libnvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found (CUDA toolkit or pip install nvidia-cuda-nvrtc-cu12): NVRTC build not tried")
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


@pytest.mark.parametrize("op", OPS)
def test_kernel_source_compiles_with_nvrtc_as_the_cupy_backend_sends_it(nvrtc, op):
    code = _cupy.load_source(_cupy.find_source(op)).encode()
    prog = ctypes.c_void_p()

    def check(status: int, what: str) -> None:
        assert status == 0, f"{what}: {nvrtc.nvrtcGetErrorString(status).decode()}"

    check(nvrtc.nvrtcCreateProgram(ctypes.byref(prog), code, f"{op}.cu".encode(), 0, None, None), "create")
    try:
        options = [f"--gpu-architecture=compute_{ARCH}".encode(), b"-ftz=true"]  # what CuPy passes
        status = nvrtc.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
        size = ctypes.c_size_t()
        check(nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size)), "log size")
        log = ctypes.create_string_buffer(size.value)
        check(nvrtc.nvrtcGetProgramLog(prog, log), "log")
        assert status == 0, f"NVRTC failed on {_cupy.SOURCES[op]}:\n{log.value.decode()}"
        check(nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size)), "PTX size")
        ptx = ctypes.create_string_buffer(size.value)
        check(nvrtc.nvrtcGetPTX(prog, ptx), "PTX")
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
    assert set(re.findall(r"\.entry\s+(\w+)", ptx.value.decode())) == set(_cupy.kernel_names(op))


def test_cuda_module_reports_unavailability_cleanly():
    try:
        import pyavatar._cuda as module
    except ModuleNotFoundError:
        pytest.skip("pyavatar._cuda was not built (no CUDA compiler at install time)")
    info = module.build_info()
    assert info["cudart"] == "static"
    assert re.fullmatch(r"\d+\.\d+", info["cuda_version"]), info
    assert info["architectures"], info
    count = module.device_count()
    ok, reason = module.available()
    assert ok == (count > 0)
    assert ok or reason, "available() must say why no device is usable"
    if not torch.cuda.is_available():
        assert _cuda.CudaBackend().unavailable_reason()


def test_cuda_module_launch_without_a_device_fails_cleanly():
    """Arguments are converted as the backend passes them; the launch then fails with CUDA's reason."""
    try:
        import pyavatar._cuda as module
    except ModuleNotFoundError:
        pytest.skip("pyavatar._cuda was not built (no CUDA compiler at install time)")
    if module.available()[0]:
        pytest.skip("a CUDA device is present: these fake pointers must not be launched on")
    vol = (256, [1, 1, 2, 2, 2], [8, 8, 4, 2, 1])
    no_kp = (0, [1, 0, 3], [0, 3, 1])  # torch gives empty tensors a null pointer
    att = (256, [1, 4, 1, 8], [32, 8, 8, 1])
    calls = {
        "grid_sample_3d": lambda: module.grid_sample_3d(
            1, vol, (256, [1, 1, 1, 1, 3], [3, 3, 3, 3, 1]), "zeros", False, 512, 0, 0
        ),
        "deform_features": lambda: module.deform_features(2, vol, no_kp, no_kp, 0.01, 512, 0, 0),
        "dense_warp": lambda: module.dense_warp(0, vol, vol, no_kp, no_kp, False, 512, 0, 0, 0),
        "relpos_attention": lambda: module.relpos_attention(
            0,
            att,
            att,
            att,
            (256, [1, 7, 1, 8], [0, 8, 8, 1]),
            (256, [1, 8], [8, 1]),
            (256, [1, 8], [8, 1]),
            None,
            -1,
            0,
            0.35,
            512,
            0,
            0,
        ),
    }
    for op, call in calls.items():
        with pytest.raises(RuntimeError, match=rf"^{op}: CUDA launch failed on device 0 \(cuda\w+: "):
            call()
    with pytest.raises(ValueError, match="feature: null data pointer"):
        module.deform_features(0, (0, [1, 1, 2, 2, 2], [8, 8, 4, 2, 1]), no_kp, no_kp, 0.01, 512, 0, 0)
    with pytest.raises(ValueError, match="padding_mode must be 'zeros' or 'border', got 'reflect'"):
        module.grid_sample_3d(0, vol, vol, "reflect", False, 512, 0, 0)
    with pytest.raises(ValueError, match="deformation: requested but no pointer given"):
        module.dense_warp(0, vol, vol, no_kp, no_kp, True, 512, 0, 0, 0)


def test_cuda_backend_reasons(monkeypatch):
    backend = _cuda.CudaBackend()
    assert backend.unsupported_reason("grid_sample_3d", torch.device("cpu"), torch.float32) == (
        "runs on CUDA tensors only, got cpu"
    )
    assert backend.unsupported_reason("relpos_attention", torch.device("cuda"), torch.float64) == (
        "float32, float16 and bfloat16 only, got float64"
    )
    monkeypatch.setitem(sys.modules, "pyavatar._cuda", None)  # as if it had not been built
    reason = _cuda.CudaBackend().unavailable_reason()
    assert reason is not None and reason.startswith("pyavatar._cuda was not built"), reason


def test_cupy_backend_reason_without_cupy_or_gpu():
    reason = _cupy.CupyBackend().unavailable_reason()
    if importlib.util.find_spec("cupy") is None:
        assert reason == "cupy is not installed (pip install 'pyavatar[gpu]')"
    elif not torch.cuda.is_available():
        assert reason, "a CuPy backend without a GPU must say why it cannot run"


def _fake_cupy(device_count: int | Exception, compile_error: Exception | None = None) -> types.ModuleType:
    """A stand-in for the parts of CuPy the backend touches before launching."""
    cupy = types.ModuleType("cupy")
    cupy.__spec__ = importlib.machinery.ModuleSpec("cupy", None)

    def get_device_count() -> int:
        if isinstance(device_count, Exception):
            raise device_count
        return device_count

    class RawModule:
        compiled: list[str] = []

        def __init__(self, code: str) -> None:
            self.code = code
            RawModule.compiled.append(code)

        def get_function(self, name: str) -> str:
            if compile_error is not None:
                raise compile_error
            return name

    class Device:
        def __init__(self, index: int) -> None:
            self.index = index

        def __enter__(self) -> Device:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    cupy.RawModule = RawModule
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count), Device=Device)
    return cupy


def test_cupy_backend_reports_a_missing_driver(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(RuntimeError("cudaErrorInsufficientDriver")))
    reason = _cupy.CupyBackend().unavailable_reason()
    assert reason == "CuPy finds no usable CUDA driver (RuntimeError: cudaErrorInsufficientDriver)"
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(0))
    assert _cupy.CupyBackend().unavailable_reason() == "CuPy finds no CUDA device"


def test_cupy_backend_compiles_whole_sources_and_reports_nvrtc_failures(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    fake = _fake_cupy(1)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend = _cupy.CupyBackend()
    assert backend.unavailable_reason() is None
    cuda0 = torch.device("cuda", 0)
    assert backend.unsupported_reason("dense_warp", cuda0, torch.float16) is None
    code = fake.RawModule.compiled[-1]
    assert '#include "' not in code and "PYAVATAR_WARP_COMMON_CUH" in code and "pyavatar_dense_warp_" in code
    assert backend.unsupported_reason("relpos_attention", cuda0, torch.float64) == (
        "float32, float16 and bfloat16 only, got float64"
    )

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1, RuntimeError("error: identifier 'x' is undefined")))
    failing = _cupy.CupyBackend()
    reason = failing.unsupported_reason("relpos_attention", cuda0, torch.float32)
    assert reason == (
        "NVRTC/driver failed on relpos_attention.cuh for device 0 (RuntimeError: error: identifier 'x' is undefined)"
    )


def test_kernel_sources_are_found_for_the_cupy_backend():
    for op in OPS:
        path = _cupy.find_source(op)
        assert path is not None, op
        assert '#include "' not in _cupy.load_source(path)


def test_forcing_the_cuda_backends_on_cpu_tensors_names_the_reason():
    x = torch.zeros(1, 1, 2, 2, 2)
    grid = torch.zeros(1, 1, 1, 1, 3)
    for name in ("cuda", "cupy"):
        with pytest.raises(kernels.BackendUnavailable, match=f"backend='{name}' cannot run on cpu"):
            kernels.grid_sample_3d(x, grid, backend=name)
