"""Triton kernels (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)."""

from __future__ import annotations

import importlib.util

import torch


class TritonBackend:
    name = "triton"

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("triton") is None:
            return "triton is not installed (pip install 'pyavatar[gpu]')"
        return "Triton kernels are not wired yet"

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        return None


BACKEND = TritonBackend()
