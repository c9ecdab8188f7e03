"""The CuPy backend: JIT-compiles the same CUDA kernel sources with NVRTC at run time."""

from __future__ import annotations

import importlib.util

import torch


class CupyBackend:
    name = "cupy"

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("cupy") is None:
            return "cupy is not installed (pip install 'pyavatar[gpu]')"
        return "CuPy kernels are not wired yet"

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        return None if device.type == "cuda" else f"runs on CUDA tensors only, got {device.type}"


BACKEND = CupyBackend()
