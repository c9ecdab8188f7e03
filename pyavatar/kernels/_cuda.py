"""The CUDA backend (``pyavatar._cuda``, built when nvcc was found at install time)."""

from __future__ import annotations

import importlib

import torch


class CudaBackend:
    name = "cuda"

    def unavailable_reason(self) -> str | None:
        try:
            importlib.import_module("pyavatar._cuda")
        except ImportError:
            return "pyavatar._cuda was not built (no CUDA compiler at install time; rebuild with PYAVATAR_CUDA=ON)"
        return "CUDA kernels are not wired yet"

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        return None if device.type == "cuda" else f"runs on CUDA tensors only, got {device.type}"


BACKEND = CudaBackend()
