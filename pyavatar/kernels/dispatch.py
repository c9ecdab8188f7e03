"""Kernel backends: capability table, selection and availability report.

Selection for a call (first match wins):
  1. the ``backend=`` argument of the call;
  2. the ``PYAVATAR_KERNEL_BACKEND`` environment variable;
  3. by device: CPU tensors → ``cpp`` → ``torch``;
     CUDA tensors → ``cuda`` → ``cupy`` → ``triton`` → ``torch``.
A forced backend that cannot run the call raises :class:`BackendUnavailable`
with its reason; automatic selection falls through to the next backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from pyavatar.kernels.spec import Args

ENV_BACKEND = "PYAVATAR_KERNEL_BACKEND"
PRIORITY: dict[str, tuple[str, ...]] = {
    "cpu": ("cpp", "torch"),
    "cuda": ("cuda", "cupy", "triton", "torch"),
}


class BackendUnavailable(RuntimeError):
    """A requested kernel backend cannot run the call; the message says why."""


class KernelBackend(Protocol):
    """What a backend provides. Inputs arrive validated and normalised by ``pyavatar.kernels.ops``."""

    name: str

    def unavailable_reason(self) -> str | None:
        """None when usable in this process, else why not (missing module, no GPU, ...)."""

    def unsupported_reason(self, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
        """None when ``op`` runs on tensors of this device and dtype, else why not."""

    def run(self, op: str, args: Args) -> tuple[Tensor, ...]:
        """Run ``op`` on its args (an instance of ``SPECS[op].args``); returns ``SPECS[op].outputs(args)`` written."""


_REGISTRY: dict[str, KernelBackend] = {}


def register_backend(backend: KernelBackend) -> None:
    """Add (or replace) a backend under ``backend.name``."""
    _REGISTRY[backend.name] = backend


def _ensure_registered() -> None:
    if _REGISTRY:
        return
    from pyavatar.kernels import _cpp, _cuda, _cupy, _torch
    from pyavatar.kernels import triton as _triton

    for module in (_cpp, _cuda, _cupy, _triton, _torch):
        register_backend(module.BACKEND)


def get_backend(name: str) -> KernelBackend:
    """The backend registered as ``name`` (``cpp``, ``cuda``, ``cupy``, ``triton``, ``torch``)."""
    _ensure_registered()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BackendUnavailable(f"unknown kernel backend '{name}' (known: {', '.join(sorted(_REGISTRY))})") from None


def _why_not(backend: KernelBackend, op: str, device: torch.device, dtype: torch.dtype) -> str | None:
    return backend.unavailable_reason() or backend.unsupported_reason(op, device, dtype)


def select(op: str, device: torch.device, dtype: torch.dtype, backend: str | None = None) -> KernelBackend:
    """Pick the backend that runs ``op`` on tensors of ``device``/``dtype``."""
    _ensure_registered()
    forced = backend or os.environ.get(ENV_BACKEND) or None
    if forced:
        chosen = get_backend(forced)
        reason = _why_not(chosen, op, device, dtype)
        if reason:
            source = "backend=" if backend else f"{ENV_BACKEND}="
            raise BackendUnavailable(f"{op}: {source}'{forced}' cannot run on {device.type}/{dtype}: {reason}")
        return chosen
    reasons = []
    for name in PRIORITY.get(device.type, ("torch",)):
        candidate = _REGISTRY[name]
        reason = _why_not(candidate, op, device, dtype)
        if reason is None:
            return candidate
        reasons.append(f"{name}: {reason}")
    raise BackendUnavailable(f"{op}: no backend for {device.type}/{dtype}: " + "; ".join(reasons))


@dataclass(frozen=True)
class BackendStatus:
    """One row of :func:`backends`."""

    name: str
    available: bool
    reason: str
    devices: tuple[str, ...]


def backends() -> list[BackendStatus]:
    """Every kernel backend, whether it is usable here, and why not when it is not."""
    _ensure_registered()
    rows = []
    for name in ("cpp", "cuda", "cupy", "triton", "torch"):
        b = _REGISTRY[name]
        reason = b.unavailable_reason()
        devices = tuple(d for d, order in PRIORITY.items() if name in order)
        if name == "triton" and os.environ.get("TRITON_INTERPRET") == "1":
            devices = (*devices, "cpu (interpreter)")
        rows.append(BackendStatus(name, reason is None, reason or "ok", devices))
    return rows
