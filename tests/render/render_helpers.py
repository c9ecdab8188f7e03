"""Helpers shared by the renderer tests."""

from __future__ import annotations

import torch

BACKENDS = ("cpp", "torch")


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference, as float."""
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return float((a.double() - b.double()).abs().max())
