"""Checks every checkpoint loader applies to the tensors it read (LivePortrait, JoyVASA).

A leaf module (it imports only torch), so domain packages of any layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def nonfinite_problems(state: Mapping[str, object]) -> list[str]:
    """One line per floating-point tensor of ``state`` holding NaN or ±inf, naming the key and the counts."""
    problems = []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
            continue
        finite = torch.isfinite(value)
        if bool(finite.all()):
            continue
        nan = int(torch.isnan(value).sum())
        problems.append(
            f"key '{key}' holds non-finite values ({nan} NaN, {int((~finite).sum()) - nan} ±inf of {value.numel()})"
        )
    return problems


def check_finite(state: Mapping[str, object], source: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``source`` (the file) and every key whose tensor holds NaN or ±inf."""
    problems = nonfinite_problems(state)
    if problems:
        raise error(
            f"{source}: {len(problems)} tensor(s) with non-finite weights (a damaged or diverged "
            "checkpoint):\n  " + "\n  ".join(problems)
        )
