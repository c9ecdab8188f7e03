"""Kernel suite: every kernel × backend against its PyTorch reference, at the real model shapes.

Shapes (LivePortrait full size, conformer denoisers):
  grid_sample_3d   volume 1×32×16×64×64 sampled at a 16×64×64 warp-like grid
  deform_features  compressed feature 1×4×16×64×64, K = 21 keypoints
  dense_warp       feature 1×32×16×64×64, mask 1×22×16×64×64, K = 21
  relpos_attention T ∈ {110, 250}, d_model 256 (4 heads) and 512 (8 heads), batch 1
The reference is the PyTorch composite in :mod:`pyavatar.kernels.reference`
timed in the same process, interleaved with the kernel; on CUDA attention is
also compared with ``scaled_dot_product_attention`` given a materialised bias.
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable

import torch
import torch.nn.functional as F

from pyavatar import kernels
from pyavatar.bench.timing import interleaved_median_ms, select_devices, set_threads, write_json
from pyavatar.kernels import reference
from pyavatar.kernels.dispatch import PRIORITY, get_backend

DESCRIPTION = "time grid_sample_3d, deform_features, dense_warp and relpos_attention against PyTorch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the kernel suite's options."""
    p.add_argument("--json", metavar="FILE", help="write the result rows to FILE")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and the C++ kernels (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all", help="devices to run (default all)")
    p.add_argument("--rounds", type=int, default=15, help="timed rounds per measurement (default 15)")
    p.add_argument("--kernel", action="append", choices=list(_KERNELS), help="only these kernels (repeatable)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="call each kernel once per backend and dtype, untimed and without references (run under ncu)",
    )


def _lattice_grid(n: int, d: int, h: int, w: int, jitter: float, g: torch.Generator) -> torch.Tensor:
    lattice = reference.align_corners_lattice(d, h, w, dtype=torch.float32, device=torch.device("cpu"))
    return lattice.unsqueeze(0).repeat(n, 1, 1, 1, 1) + jitter * torch.randn(n, d, h, w, 3, generator=g)


def _keypoints(g: torch.Generator, k: int = 21) -> tuple[torch.Tensor, torch.Tensor]:
    ks = (torch.rand(1, k, 3, generator=g) * 2 - 1) * 0.8
    return ks, ks + 0.05 * torch.randn(1, k, 3, generator=g)


Case = tuple[str, str, Callable[[str], object], Callable[[], object]]  # shape label, dtype, kernel(backend), reference


def _grid_sample_cases(device: torch.device, dtype: torch.dtype) -> list[Case]:
    g = torch.Generator().manual_seed(0)
    vol = torch.randn(1, 32, 16, 64, 64, generator=g).to(device, dtype)
    grid = _lattice_grid(1, 16, 64, 64, 0.05, g).to(device, dtype)
    return [
        (
            "in 1x32x16x64x64 grid 1x16x64x64x3",
            _name(dtype),
            lambda b: kernels.grid_sample_3d(vol, grid, backend=b),
            lambda: reference.grid_sample_3d(vol, grid),
        )
    ]


def _deform_cases(device: torch.device, dtype: torch.dtype) -> list[Case]:
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(1, 4, 16, 64, 64, generator=g).to(device, dtype)
    ks, kd = (t.to(device, dtype) for t in _keypoints(g))
    return [
        (
            "feature 1x4x16x64x64 K=21",
            _name(dtype),
            lambda b: kernels.deform_features(feat, ks, kd, backend=b),
            lambda: reference.deform_features(feat, ks, kd),
        )
    ]


def _dense_warp_cases(device: torch.device, dtype: torch.dtype) -> list[Case]:
    g = torch.Generator().manual_seed(2)
    feat = torch.randn(1, 32, 16, 64, 64, generator=g).to(device, dtype)
    mask = torch.softmax(4 * torch.randn(1, 22, 16, 64, 64, generator=g), dim=1).to(device, dtype)
    ks, kd = (t.to(device, dtype) for t in _keypoints(g))
    return [
        (
            "feature 1x32x16x64x64 mask 1x22x16x64x64",
            _name(dtype),
            lambda b: kernels.dense_warp(feat, mask, ks, kd, backend=b),
            lambda: reference.dense_warp(feat, mask, ks, kd),
        )
    ]


def _attention_inputs(
    t: int, d_model: int, heads: int, device: torch.device, dtype: torch.dtype, seed: int
) -> tuple[torch.Tensor, ...]:
    """Seeded q, k, v (1, T, H, dk), relative positions (2T-1, H, dk) and the two biases (H, dk)."""
    g = torch.Generator().manual_seed(seed)
    dk = d_model // heads
    q, k, v = (torch.randn(1, t, heads, dk, generator=g).to(device, dtype) for _ in range(3))
    pos = torch.randn(2 * t - 1, heads, dk, generator=g).to(device, dtype)
    u, vb = (
        (0.1 * torch.randn(heads, dk, generator=g)).to(device, dtype),
        (0.1 * torch.randn(heads, dk, generator=g)).to(device, dtype),
    )
    return q, k, v, pos, u, vb


def _attention_cases(device: torch.device, dtype: torch.dtype) -> list[Case]:
    cases: list[Case] = []
    for t in (110, 250):
        for d_model, heads in ((256, 4), (512, 8)):
            args = _attention_inputs(t, d_model, heads, device, dtype, seed=t + d_model)
            cases.append(
                (
                    f"T={t} d_model={d_model} heads={heads}",
                    _name(dtype),
                    lambda b, a=args: kernels.relpos_attention(*a, backend=b),
                    lambda a=args: reference.relpos_attention(*a),
                )
            )
    return cases


_KERNELS: dict[str, Callable[[torch.device, torch.dtype], list[Case]]] = {
    "grid_sample_3d": _grid_sample_cases,
    "deform_features": _deform_cases,
    "dense_warp": _dense_warp_cases,
    "relpos_attention": _attention_cases,
}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _sdpa_with_bias(t: int, d_model: int, heads: int, device: torch.device, dtype: torch.dtype) -> Callable[[], object]:
    """Attention through SDPA with the relative-position scores materialised as an additive bias."""
    q, k, v, pos, u, vb = _attention_inputs(t, d_model, heads, device, dtype, seed=t + d_model)
    dk = d_model // heads

    def run() -> torch.Tensor:
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        bd = reference._rel_shift((qt + vb.view(1, heads, 1, dk)) @ pos.permute(1, 2, 0))
        bias = bd * dk**-0.5 + (u.view(1, heads, 1, dk) @ kt.transpose(-2, -1)) * dk**-0.5
        return F.scaled_dot_product_attention(qt, kt, vt, attn_mask=bias)

    return run


def _dtypes(device: torch.device, kernel: str) -> list[torch.dtype]:
    if device.type == "cpu":
        return [torch.float32]
    extra = [torch.bfloat16] if kernel == "relpos_attention" else []
    return [torch.float32, torch.float16, *extra]


def profile_once(devices: list[torch.device], only: list[str] | None = None) -> int:
    """Launch every kernel once per available backend and dtype (for a profiler); returns the launch count."""
    launches = 0
    for device in devices:
        for kernel, make in _KERNELS.items():
            if only and kernel not in only:
                continue
            for dtype in _dtypes(device, kernel):
                for shape, dname, fn, _ in make(device, dtype):
                    for backend in PRIORITY[device.type]:
                        b = get_backend(backend)
                        if backend == "torch" or b.unavailable_reason() or b.unsupported_reason(kernel, device, dtype):
                            continue
                        fn(backend)
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        launches += 1
                        print(f"  {kernel:<17} {backend:<7} {dname:<8} {shape}", flush=True)
    return launches


def run_suite(devices: list[torch.device], rounds: int, only: list[str] | None = None) -> list[dict]:
    """Measure and return the rows (also printed)."""
    rows: list[dict] = []
    for device in devices:
        sync = device if device.type == "cuda" else None
        for kernel, make in _KERNELS.items():
            if only and kernel not in only:
                continue
            for dtype in _dtypes(device, kernel):
                for shape, dname, fn, ref in make(device, dtype):
                    for backend in PRIORITY[device.type]:
                        if backend == "torch":
                            continue
                        b = get_backend(backend)
                        reason = b.unavailable_reason() or b.unsupported_reason(kernel, device, dtype)
                        if reason:
                            print(f"  skip {kernel} {backend} {device.type}/{dname}: {reason}")
                            continue
                        ms, ref_ms = interleaved_median_ms(
                            [lambda f=fn, b=backend: f(b), ref], rounds=rounds, device=sync
                        )
                        rows.append(_row(kernel, backend, shape, dname, device, ms, ref_ms, "pytorch composite"))
                        print(_fmt(rows[-1]))
        if device.type == "cuda" and (not only or "relpos_attention" in only):
            rows.extend(_sdpa_rows(device, rounds))
    return rows


def _sdpa_rows(device: torch.device, rounds: int) -> list[dict]:
    rows = []
    for dtype in (torch.float16, torch.bfloat16):
        for t in (110, 250):
            for d_model, heads in ((256, 4), (512, 8)):
                args = _attention_inputs(t, d_model, heads, device, dtype, seed=t + d_model)
                for backend in ("cuda", "triton"):
                    b = get_backend(backend)
                    if b.unavailable_reason() or b.unsupported_reason("relpos_attention", device, dtype):
                        continue
                    ms, ref_ms = interleaved_median_ms(
                        [
                            lambda a=args, b=backend: kernels.relpos_attention(*a, backend=b),
                            _sdpa_with_bias(t, d_model, heads, device, dtype),
                        ],
                        rounds=rounds,
                        device=device,
                    )
                    rows.append(
                        _row(
                            "relpos_attention",
                            backend,
                            f"T={t} d_model={d_model} heads={heads}",
                            _name(dtype),
                            device,
                            ms,
                            ref_ms,
                            "sdpa with materialised bias",
                        )
                    )
                    print(_fmt(rows[-1]))
    return rows


def _row(
    kernel: str, backend: str, shape: str, dtype: str, device: torch.device, ms: float, ref_ms: float, ref: str
) -> dict:
    return {
        "kernel": kernel,
        "backend": backend,
        "shape": shape,
        "dtype": dtype,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "ms_median": round(ms, 4),
        "ref_ms_median": round(ref_ms, 4),
        "speedup": round(ref_ms / ms, 3),
        "reference": ref,
    }


def _fmt(r: dict) -> str:
    return (
        f"  {r['kernel']:<17} {r['backend']:<7} {r['dtype']:<8} {r['shape']:<42} "
        f"{r['ms_median']:>9.3f} ms  ref {r['ref_ms_median']:>9.3f} ms  x{r['speedup']:.2f}"
    )


def run(args: argparse.Namespace) -> int:
    """Time every kernel against its reference; print a table and optionally write JSON."""
    set_threads(args.threads)
    devices = select_devices(args.device)
    if devices is None:
        print("no CUDA device available")
        return 1
    print(f"pyavatar bench kernels: {args.threads} CPU threads, devices {[d.type for d in devices]}")
    if args.profile:
        print(f"{profile_once(devices, args.kernel)} kernel calls, untimed")
        return 0
    rows = run_suite(devices, args.rounds, args.kernel)
    import pyavatar._core as core

    write_json(
        args.json,
        {
            "suite": "kernels",
            "threads": args.threads,
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "core": core.build_info(),
                "cpu_isa": core.active_isa(),
            },
            "rows": rows,
        },
    )
    return 0
