"""Host-side helpers shared by the Triton launchers: mode, device guard, block sizes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import triton

# Fixed when this module (and with it every kernel module) is first imported:
# ``triton.jit`` decides between compiled and interpreted kernels at decoration time.
INTERPRETED: bool = bool(triton.knobs.runtime.interpret)


def next_pow2(n: int) -> int:
    """Smallest power of two >= max(n, 1)."""
    return 1 << max(int(n) - 1, 0).bit_length()


@contextlib.contextmanager
def on_device(t: torch.Tensor) -> Iterator[None]:
    """Make ``t``'s CUDA device current for the launch (no-op for CPU tensors)."""
    if t.device.type == "cuda":
        with torch.cuda.device(t.device):
            yield
    else:
        yield


def spatial_blocks(points: int, channels: int) -> tuple[int, int, int]:
    """(BLOCK_S, BLOCK_C, num_warps) for the trilinear kernels.

    Each program owns BLOCK_S output points and walks the channels BLOCK_C at
    a time. Compiled: 128 points x up to 8 channels per tile keeps registers
    low and the grid wide. Interpreted: every program costs Python overhead,
    so tiles are as large as the problem allows (up to 64 Ki elements).
    """
    if INTERPRETED:
        block_s = min(next_pow2(points), 4096)
        block_c = min(next_pow2(channels), max(1, 65536 // block_s))
        return block_s, block_c, 4
    return 128, min(next_pow2(channels), 8), 4
