"""Checks every checkpoint loader applies to the tensors it read, and atomic weight writes.

A leaf module (it imports only torch and safetensors), so domain packages of any layer may use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

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


def atomic_save(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """``tensors`` as safetensors at ``path`` (temp file + rename)."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def write_json(obj: dict, path: Path) -> None:
    """``obj`` as JSON at ``path`` (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def save_weights(state: Mapping[str, torch.Tensor], meta: dict, path: Path) -> None:
    """Inference weights ``path`` (.safetensors) with ``meta`` in the .json beside it."""
    atomic_save(state, path)
    write_json(meta, path.with_suffix(".json"))
