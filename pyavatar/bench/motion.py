"""Motion suite: the streaming diffusion generator with guidance at batch 1, fused attention vs the PyTorch reference.

Configurations (randomly initialised keypoints models with log-mel audio; speed does not depend on the weights):
  cpu  d_model 192, 4 blocks, 4 heads,  5 DDIM steps, window 40 = 20 context + 10 new + 10 look-ahead
  gpu  d_model 512, 8 blocks, 8 heads, 10 DDIM steps, same window
Guidance: audio 2, emotion 1 (3 denoiser rows per step, one batched call). Each
backend streams ``--seconds`` of synthetic speech in 40 ms chunks, ``--rounds``
times, interleaved with the other backends.

Columns: ``rtf`` = compute seconds (feature extraction + sampling + output
controls) per second of motion, from the least disturbed round; ``step_ms`` =
median compute of one step (one window, ``new_frames`` frames);
``first_frame_ms`` = audio that must arrive before the first frames
((new_frames + look-ahead) / 25 s + the 16 ms feature look-ahead) plus the
median first-step compute.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from pyavatar.bench.timing import select_devices, set_threads, write_json
from pyavatar.kernels.dispatch import PRIORITY, get_backend
from pyavatar.packets import AudioChunk

if TYPE_CHECKING:
    from pyavatar.motion.diffusion import StreamingMotionGenerator

DESCRIPTION = (
    "stream the diffusion motion generator (fused relpos_attention vs PyTorch, uncached / cached / traced) "
    "and report rtf / latency"
)
SR = 16_000
CONFIGS = {
    "cpu": {"d_model": 192, "blocks": 4, "heads": 4, "steps": 5},
    "gpu": {"d_model": 512, "blocks": 8, "heads": 8, "steps": 10},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``pyavatar bench motion``."""
    p.add_argument("--json", metavar="FILE", help="write the result rows to FILE")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all", help="devices to run (default all)")
    p.add_argument(
        "--config", action="append", choices=list(CONFIGS), help="model sizes to run (default: cpu on CPU, gpu on CUDA)"
    )
    p.add_argument("--seconds", type=float, default=12.0, help="audio streamed per round (default 12)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per backend (default 3)")
    p.add_argument("--new-frames", type=int, default=10, help="frames emitted per step (default 10)")
    p.add_argument("--lookahead", type=int, default=10, help="look-ahead frames (default 10)")
    p.add_argument("--window", type=int, default=40, help="window frames (default 40)")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model size's)")


def speech(seconds: float) -> np.ndarray:
    """Voiced bursts with a gliding pitch (deterministic)."""
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.5 * t)) / SR
    env = 0.03 + 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 1.37) / 1.1, 0, 1)))
    return (0.2 * env * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)


#: (attention backend or "fused", mode) variants: the denoiser without its cache (the baseline), with the cache
#: (:class:`~pyavatar.motion.diffusion.DenoiserCache`), and the cache with the traced graph (PyTorch attention).
MODES = ("uncached", "cached", "graph")


def _variants(device: torch.device) -> list[tuple[str, str]]:
    fused, torch_ref = _backends(device)[0], "torch"
    return [(fused, "uncached"), (fused, "cached"), (torch_ref, "cached"), (torch_ref, "graph")]


def _backends(device: torch.device) -> list[str]:
    names = []
    for name in PRIORITY[device.type]:
        b = get_backend(name)
        if b.unavailable_reason() is None and b.unsupported_reason("relpos_attention", device, torch.float32) is None:
            names.append(name)
    fused = [n for n in names if n != "torch"]
    return fused[:1] + ["torch"]  # the backend chosen automatically, then the reference


def _stream_once(gen: StreamingMotionGenerator, audio: np.ndarray) -> tuple[float, list[float], float]:
    """(compute seconds, step seconds, first step seconds) for one stream."""
    gen.reset()
    gen.step_times.clear()
    busy = 0.0
    hop = SR // 25
    for i in range(0, len(audio) - hop + 1, hop):
        chunk = AudioChunk(i * 62_500, SR, audio[i : i + hop])
        t0 = time.perf_counter()
        gen.push(chunk)
        busy += time.perf_counter() - t0
    return busy, list(gen.step_times), gen.first_step_s or float("nan")


def run_suite(devices: list[torch.device], configs: list[str] | None, args: argparse.Namespace) -> list[dict]:
    """Measure and return the rows (also printed)."""
    from pyavatar.motion.diffusion import MotionModelConfig, StreamConfig, StreamingMotionGenerator, random_model

    audio = speech(args.seconds)
    stream_cfg = StreamConfig(window=args.window, new_frames=args.new_frames, lookahead=args.lookahead)
    rows = []
    for device in devices:
        for name in configs or (["cpu"] if device.type == "cpu" else ["gpu"]):
            c = CONFIGS[name]
            cfg = MotionModelConfig(d_model=c["d_model"], blocks=c["blocks"], heads=c["heads"])
            model = random_model(cfg, seed=0).to(device)
            sc = StreamConfig(**{**vars(stream_cfg), "steps": args.steps or c["steps"]})
            gens = {
                (b, mode): StreamingMotionGenerator(model, sc, cache=mode != "uncached", graph=mode == "graph")
                for b, mode in _variants(device)
            }
            results: dict[tuple[str, str], list[tuple[float, list[float], float]]] = {k: [] for k in gens}
            for (b, _), gen in gens.items():  # warm-up (allocations, kernel selection, caches, tracing)
                model.kernel_backend = b
                _stream_once(gen, audio[: SR * 2])
            for _ in range(args.rounds):
                for (b, mode), gen in gens.items():
                    model.kernel_backend = b
                    results[b, mode].append(_stream_once(gen, audio))
            for (b, mode), res in results.items():
                gen = gens[b, mode]
                motion_s = len(res[0][1]) * sc.new_frames / 25
                rtf = min(r[0] for r in res) / motion_s  # the least disturbed round (shared machines)
                step = statistics.median(t for r in res for t in r[1])
                first = statistics.median(r[2] for r in res)
                algorithmic = gen.latency()["algorithmic"]
                rows.append(
                    {
                        "model": f"conformer-{name}",
                        "d_model": c["d_model"],
                        "blocks": c["blocks"],
                        "steps": sc.steps,
                        "new_frames": sc.new_frames,
                        "device": _device_name(device),
                        "backend": b,
                        "mode": mode,
                        "rtf": round(rtf, 4),
                        "step_ms": round(step * 1e3, 2),
                        "first_frame_ms": round((algorithmic + first) * 1e3, 1),
                        "lookahead_frames": sc.lookahead,
                        "window": sc.window,
                        "guidance_rows": 3,
                        "threads": torch.get_num_threads() if device.type == "cpu" else None,
                    }
                )
                print(_fmt(rows[-1]))
    return rows


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _fmt(r: dict) -> str:
    return (
        f"  {r['model']:<15} d={r['d_model']:<4} blocks={r['blocks']} steps={r['steps']:<3} "
        f"new={r['new_frames']:<3} "
        f"{r['device']:<10} {r['backend']:<7} {r['mode']:<9} rtf {r['rtf']:.3f}  step {r['step_ms']:8.2f} ms  "
        f"first frame {r['first_frame_ms']:7.1f} ms"
    )


def run(args: argparse.Namespace) -> int:
    """Benchmark the streaming generator on each selected device; returns the exit status."""
    set_threads(args.threads)
    devices = select_devices(args.device)
    if devices is None:
        print("no CUDA device available")
        return 1
    print(f"pyavatar bench motion: {args.threads} CPU threads, devices {[d.type for d in devices]}")
    rows = run_suite(devices, args.config, args)
    write_json(
        args.json,
        {
            "suite": "motion",
            "threads": args.threads,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__},
            "rows": rows,
        },
    )
    return 0
