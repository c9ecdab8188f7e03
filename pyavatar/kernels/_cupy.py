"""The CuPy backend: JIT-compiles pyavatar's CUDA kernel sources with NVRTC at run time.

The kernels are the ones ``pyavatar._cuda`` is built from (``csrc/*/*.cuh``,
installed as ``pyavatar/kernels/_cuda_src``), so a wheel built without nvcc
still runs them on a GPU. Each op's source is compiled with
``cupy.RawModule`` the first time the op is asked for (CuPy caches the binary
on disk), then launched on the torch tensors' memory on torch's current stream.
fp32, fp16 and bf16, any strides, fp32 math. Each kernel takes one params struct by value,
built from the layout the kernel source itself declares (:mod:`._cuda_params`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from pyavatar.kernels._cuda import cuda_outputs
from pyavatar.kernels._cuda_params import pack, struct_dtype
from pyavatar.kernels.spec import (
    SPECS,
    Args,
    DeformFeaturesArgs,
    DenseWarpArgs,
    GridSample3dArgs,
    KernelArgs,
    Outputs,
    RelposAttentionArgs,
)

SUFFIX = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
SOURCES = {
    "grid_sample_3d": "grid_sample_3d.cuh",
    "deform_features": "deform_features.cuh",
    "dense_warp": "dense_warp.cuh",
    "relpos_attention": "relpos_attention.cuh",
}
_PADDING = {"zeros": 0, "border": 1}

_PACKAGE_SOURCES = Path(__file__).resolve().parent / "_cuda_src"
_REPO_CSRC = Path(__file__).resolve().parents[2] / "csrc"


def source_dirs() -> list[Path]:
    """Where the kernel headers are: the installed copy, else the source checkout's ``csrc``."""
    root = _PACKAGE_SOURCES if (_PACKAGE_SOURCES / "warp" / SOURCES["grid_sample_3d"]).is_file() else _REPO_CSRC
    return [root / "warp", root / "attention"]


def find_source(op: str) -> Path | None:
    """The header holding ``op``'s kernels, or None when it is in no source dir."""
    for directory in source_dirs():
        path = directory / SOURCES[op]
        if path.is_file():
            return path
    return None


_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)


def load_source(path: Path) -> str:
    """``path``'s text with its local ``#include "..."`` lines replaced by the files.

    The complete text is what CuPy hashes for its on-disk kernel cache, so a
    change to a shared header also recompiles the kernels that include it.
    """

    def expand(match: re.Match[str]) -> str:
        included = path.parent / match.group(1)
        if not included.is_file():
            raise FileNotFoundError(f"{path.name}: included file {match.group(1)} not found in {path.parent}")
        return load_source(included)

    return _LOCAL_INCLUDE.sub(expand, path.read_text(encoding="utf-8"))


def _header_constants(op: str, names: tuple[str, ...]) -> dict[str, int]:
    """``constexpr`` integers of ``op``'s kernel source: the launch geometry is defined there once."""
    path = find_source(op)
    text = load_source(path) if path is not None else ""
    found = {}
    for name in names:
        match = re.search(rf"constexpr\s+[\w ]+?\b{name}\s*=\s*(\d+)\s*;", text)
        found[name] = int(match.group(1)) if match else 0  # 0 only without sources: the backend is then unavailable
    return found


_WARP = _header_constants("grid_sample_3d", ("kWarpThreads", "kWarpMaxBlocks", "kChannelChunk"))
WARP_THREADS = _WARP["kWarpThreads"]
WARP_MAX_BLOCKS = _WARP["kWarpMaxBlocks"]  # the warp kernels loop over the rest (grid-stride)
WARP_CHANNEL_CHUNK = _WARP["kChannelChunk"]  # channels per thread in grid_sample_3d / dense_warp (grid axis y)
_ATTENTION = _header_constants("relpos_attention", ("kThreads", "kQueries"))
ATTENTION_THREADS = _ATTENTION["kThreads"]
ATTENTION_QUERIES = _ATTENTION["kQueries"]  # queries per block
_ATTENTION_SOURCE = find_source("relpos_attention")
ATTENTION_HEAD_DIMS = tuple(  # one kernel per Dk bound: the _d<bound> instantiations
    sorted({int(d) for d in re.findall(r"suffix##_d(\d+),", load_source(_ATTENTION_SOURCE))})
    if _ATTENTION_SOURCE is not None
    else ()
)


@functools.cache
def params_dtype(op: str) -> np.dtype[np.void]:
    """The NumPy dtype of ``op``'s params struct (``<Op>Params``), read from the kernel source NVRTC compiles."""
    path = find_source(op)
    if path is None:
        raise FileNotFoundError(f"CUDA kernel source {SOURCES[op]} not found (looked in {source_dirs()})")
    return struct_dtype(load_source(path), "".join(w.capitalize() for w in op.split("_")) + "Params")


def params(op: str, args: KernelArgs, outputs: Outputs, **converted: object) -> NDArray[np.void]:
    """``op``'s params struct, packed for the launch.

    Members named after an arg take its value (``converted`` overrides one, e.g. a string by its code);
    the members named after none take the outputs in order (null for an output that was not asked for).
    """
    dtype = params_dtype(op)
    values: dict[str, object] = {**args._asdict(), **converted}
    output_names = [name for name in dtype.names or () if name not in values]
    if len(output_names) != SPECS[op].max_outputs:
        raise ValueError(f"{op}: params members {output_names} name no arg, expected {SPECS[op].max_outputs} outputs")
    values.update(zip(output_names, [*outputs, *[None] * (len(output_names) - len(outputs))], strict=True))
    return pack(dtype, values)


@dataclass(frozen=True)
class Launch:
    """One kernel launch: name, geometry and its one argument, the op's params struct.

    ``args`` holds that struct as a one-element structured NumPy array, which CuPy passes by value.
    """

    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple[NDArray[np.void]]


def _warp_grid(work: int, channels: int = 0) -> tuple[int, int, int]:
    """Grid-stride blocks over ``work`` locations (x) times channel chunks (y, at least one)."""
    return (max(1, min(-(-work // WARP_THREADS), WARP_MAX_BLOCKS)), max(1, -(-channels // WARP_CHANNEL_CHUNK)), 1)


def plan_grid_sample_3d(a: GridSample3dArgs, outputs: Outputs) -> Launch:
    """Launch of ``pyavatar_grid_sample_3d_<dtype>`` writing ``out`` (N, C, Do, Ho, Wo)."""
    n, c, d_out, h_out, w_out = outputs[0].shape
    struct = params("grid_sample_3d", a, outputs, padding_mode=_PADDING[a.padding_mode])
    kernel = f"pyavatar_grid_sample_3d_{SUFFIX[a.input.dtype]}"
    return Launch(kernel, _warp_grid(n * d_out * h_out * w_out, c), (WARP_THREADS, 1, 1), (struct,))


def plan_deform_features(a: DeformFeaturesArgs, outputs: Outputs) -> Launch:
    """Launch of ``pyavatar_deform_features_<dtype>`` writing ``out`` (N, K+1, C+1, D, H, W)."""
    n, groups, _, d, h, w = outputs[0].shape
    struct = params("deform_features", a, outputs)
    kernel = f"pyavatar_deform_features_{SUFFIX[a.feature.dtype]}"
    return Launch(kernel, _warp_grid(n * groups * d * h * w), (WARP_THREADS, 1, 1), (struct,))


def plan_dense_warp(a: DenseWarpArgs, outputs: Outputs) -> Launch:
    """Launch of ``pyavatar_dense_warp_<dtype>`` writing ``out`` and, when asked for, ``deformation``."""
    n, c, d, h, w = outputs[0].shape
    struct = params("dense_warp", a, outputs)
    kernel = f"pyavatar_dense_warp_{SUFFIX[a.feature.dtype]}"
    return Launch(kernel, _warp_grid(n * d * h * w, c), (WARP_THREADS, 1, 1), (struct,))


def plan_relpos_attention(a: RelposAttentionArgs, outputs: Outputs) -> Launch:
    """Launch of ``pyavatar_relpos_attention_<dtype>_d<bound>`` writing ``out`` (B, T, H, Dk)."""
    b, t, h, dk = a.q.shape
    bound = next(x for x in ATTENTION_HEAD_DIMS if dk <= x)
    struct = params("relpos_attention", a, outputs)
    kernel = f"pyavatar_relpos_attention_{SUFFIX[a.q.dtype]}_d{bound}"
    return Launch(kernel, (-(-t // ATTENTION_QUERIES), h, b), (ATTENTION_THREADS, 1, 1), (struct,))


PLANS: dict[str, Callable[[Any, Outputs], Launch]] = {
    "grid_sample_3d": plan_grid_sample_3d,
    "deform_features": plan_deform_features,
    "dense_warp": plan_dense_warp,
    "relpos_attention": plan_relpos_attention,
}


def kernel_names(op: str) -> list[str]:
    """Every kernel the header of ``op`` defines."""
    prefix = f"pyavatar_{op}_"
    if op == "relpos_attention":
        return [f"{prefix}{s}_d{d}" for s in SUFFIX.values() for d in ATTENTION_HEAD_DIMS]
    return [f"{prefix}{s}" for s in SUFFIX.values()]


class CupyBackend:
    name = "cupy"

    def __init__(self) -> None:
        self._reason: str | None = None
        self._checked = False
        self._modules: dict[str, Any] = {}  # op -> cupy.RawModule
        self._functions: dict[tuple[int, str], Any] = {}  # (device, kernel) -> cupy.RawKernel
        self._failures: dict[tuple[int, str], str] = {}  # (device, op) -> "" once loaded, else why not

    @staticmethod
    def cupy() -> ModuleType:
        return importlib.import_module("cupy")

    def unavailable_reason(self) -> str | None:
        if not self._checked:
            self._reason = self._find_reason()
            self._checked = True
        return self._reason

    def _find_reason(self) -> str | None:
        if importlib.util.find_spec("cupy") is None:
            return "cupy is not installed (pip install 'pyavatar[gpu]')"
        try:
            cupy = self.cupy()
        except Exception as exc:  # a broken CuPy install raises anything from ImportError to RuntimeError
            return f"cupy failed to import ({type(exc).__name__}: {exc})"
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # cupy_backends' CUDARuntimeError when there is no driver
            return f"CuPy finds no usable CUDA driver ({type(exc).__name__}: {exc})"
        if count == 0:
            return "CuPy finds no CUDA device"
        if not torch.cuda.is_available():
            return "torch cannot use CUDA (CPU-only torch build or no device visible to it)"
        missing = [op for op in SOURCES if find_source(op) is None]
        if missing:
            looked = ", ".join(str(d) for d in source_dirs())
            return f"CUDA kernel sources for {', '.join(missing)} not found (looked in {looked})"
        return None

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        if device.type != "cuda":
            return f"runs on CUDA tensors only, got {device.type}"
        if dtype not in SUFFIX:
            return f"float32, float16 and bfloat16 only, got {str(dtype).replace('torch.', '')}"
        return self._compiled(op, _device_index(device)) or None

    def _compiled(self, op: str, index: int) -> str:
        """Compile and load ``op``'s kernels for device ``index`` once; '' on success, else why it failed."""
        key = (index, op)
        if key not in self._failures:
            self._failures[key] = self._compile(op, index)
        return self._failures[key]

    def _compile(self, op: str, index: int) -> str:
        cupy = self.cupy()
        source = find_source(op)
        if source is None:
            return f"CUDA kernel source {SOURCES[op]} not found"
        try:
            if op not in self._modules:
                self._modules[op] = cupy.RawModule(code=load_source(source))
            with cupy.cuda.Device(index):
                for name in kernel_names(op):
                    self._functions[(index, name)] = self._modules[op].get_function(name)
        except Exception as exc:  # cupy.cuda.compiler.CompileException, CUDADriverError, OSError, ...
            self._modules.pop(op, None)
            return f"NVRTC/driver failed on {SOURCES[op]} for device {index} ({type(exc).__name__}: {exc})"
        return ""

    def _launch(self, op: str, launch: Launch, device: torch.device) -> None:
        cupy = self.cupy()
        index = _device_index(device)
        failure = self._compiled(op, index)
        if failure:
            raise RuntimeError(f"{op}: {failure}")
        kernel = self._functions[(index, launch.kernel)]
        stream = torch.cuda.current_stream(index).cuda_stream
        with cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream):
            kernel(launch.grid, launch.block, launch.args)

    def run(self, op: str, args: Args) -> Outputs:
        outputs = cuda_outputs(op, args)
        self._launch(op, PLANS[op](args, outputs), args[0].device)
        return outputs


def _device_index(device: torch.device) -> int:
    return torch.cuda.current_device() if device.index is None else device.index


BACKEND = CupyBackend()
