"""Argument validation shared by the kernel entry points (errors name the argument)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_tensor(
    op: str,
    name: str,
    t: object,
    *,
    shape: Sequence[int | str],
    dtypes: Sequence[torch.dtype] | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, int]:
    """Validate one tensor argument and return the sizes bound to symbolic dims.

    ``shape`` mixes ints (exact sizes) and names (any size, bound on first use
    within this tensor and returned so callers can cross-check arguments).
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: argument '{name}' must be a torch.Tensor, got {type(t).__name__}")
    expect = "(" + ", ".join(str(s) for s in shape) + ")"
    if t.dim() != len(shape):
        raise ValueError(f"{op}: argument '{name}' must be {len(shape)}-D {expect}, got shape {tuple(t.shape)}")
    bound: dict[str, int] = {}
    for axis, (want, got) in enumerate(zip(shape, t.shape)):
        if isinstance(want, int):
            if got != want:
                raise ValueError(
                    f"{op}: argument '{name}' must have shape {expect}, got {tuple(t.shape)} (axis {axis})"
                )
        elif want in bound and bound[want] != got:
            raise ValueError(f"{op}: argument '{name}' has inconsistent size for {want}: {tuple(t.shape)}")
        else:
            bound[str(want)] = int(got)
    if dtypes is not None and t.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(
            f"{op}: argument '{name}' must have dtype in ({names}), got {str(t.dtype).replace('torch.', '')}"
        )
    if dtype is not None and t.dtype != dtype:
        raise TypeError(
            f"{op}: argument '{name}' must have dtype {str(dtype).replace('torch.', '')} like the other inputs, "
            f"got {str(t.dtype).replace('torch.', '')}"
        )
    if device is not None and t.device != device:
        raise ValueError(f"{op}: argument '{name}' is on {t.device}, expected {device} like the other inputs")
    return bound


def check_equal(op: str, what: str, values: dict[str, int]) -> int:
    """All named sizes must agree; returns the common value."""
    distinct = set(values.values())
    if len(distinct) != 1:
        listing = ", ".join(f"{k}={v}" for k, v in values.items())
        raise ValueError(f"{op}: {what} must agree across arguments, got {listing}")
    return distinct.pop()
