"""Resumable checkpoints: tensors in safetensors, everything else in a JSON file beside it.

``last.safetensors`` holds ``model.*``, ``ema.*``, ``opt.N.{exp_avg,exp_avg_sq,step}``
and the RNG states (``rng.*`` as uint8); ``last.json`` the step, the config and
the best validation score so far. Weights for inference (``best``/``final``) are
the EMA weights: for MouthNet with plain keys and a JSON config that
:func:`pyavatar.motion.learned.engine.load_model` reads; for the diffusion
generator a :func:`pyavatar.motion.diffusion.load_motion_model` file (the task
writes it). All writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from pyavatar.checkpoints import atomic_save, write_json


def save_training(
    run: Path,
    model: torch.nn.Module,
    ema: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    rngs: dict[str, torch.Tensor],
    meta: dict,
) -> None:
    """``run/last.safetensors`` + ``run/last.json``."""
    t: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    t.update({f"ema.{k}": v for k, v in ema.items()})
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        for k, v in opt.state.get(p, {}).items():
            t[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    t.update({f"rng.{k}": v for k, v in rngs.items()})
    atomic_save(t, run / "last.safetensors")
    write_json(meta, run / "last.json")


def load_training(
    run: Path, model: torch.nn.Module, ema: dict[str, torch.Tensor], opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict]:
    """Restore ``model``, ``ema`` and ``opt`` from ``run/last.*``; returns (RNG states, JSON meta)."""
    path = run / "last.safetensors"
    if not path.is_file() or not (run / "last.json").is_file():
        raise FileNotFoundError(f"{run}: no last.safetensors/last.json to resume from")
    t = load_file(str(path))
    for k, v in t.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"{path}: tensor {k!r} has non-finite values")
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
    for k in ema:
        key = f"ema.{k}"
        if key not in t:
            raise ValueError(f"{path}: missing key {key!r}")
        ema[k].copy_(t[key])
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        st = {k.split(".", 2)[2]: v for k, v in t.items() if k.startswith(f"opt.{i}.")}
        if st:
            opt.state[p] = st
    rngs = {k[4:]: v for k, v in t.items() if k.startswith("rng.")}
    return rngs, json.loads((run / "last.json").read_text())
