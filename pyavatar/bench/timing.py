"""Shared timing helpers for the benchmark suites."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in pyavatar's C++ kernels (which follow torch)."""
    torch.set_num_threads(n)


def select_devices(choice: str) -> list[torch.device] | None:
    """Devices for a ``--device cpu|cuda|all`` choice; None when ``cuda`` was asked for but is absent."""
    devices = [torch.device("cpu")] if choice in ("cpu", "all") else []
    if choice in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        elif choice == "cuda":
            return None
    return devices


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    reps: int = 20,
    min_seconds: float = 0.0,
    device: torch.device | None = None,
) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` calls.

    Runs at least ``reps`` times and keeps going until ``min_seconds`` have
    passed. On CUDA the device is synchronised around every call.
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def interleaved_median_ms(
    fns: Sequence[Callable[[], object]], *, warmup: int = 2, rounds: int = 15, device: torch.device | None = None
) -> list[float]:
    """Median times of several functions measured in alternation (fairer on a noisy machine)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    _sync(device)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            samples[i].append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(s) for s in samples]


def write_json(path: str | Path | None, payload: object) -> None:
    """Write ``payload`` as indented JSON to ``path`` (no-op when ``path`` is None)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
