"""Fixture-sized models for the motion-source tests: JoyVASA (released layout) and a saved diffusion model."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file


def joyvasa_files(fixtures: Path, out: Path) -> tuple[Path, Path, Path]:
    """``(motion_generator.pt, hubert dir, motion_template.pkl)`` from the tiny JoyVASA fixture, in ``out``."""
    fx = fixtures / "motion/joyvasa"
    cfg = json.loads((fx / "joyvasa_tiny_config.json").read_text())
    hub = out / "chinese-hubert-tiny"
    hub.mkdir(parents=True, exist_ok=True)
    (hub / "config.json").write_text(json.dumps({**cfg["hubert"], "model_type": "hubert"}))
    args = argparse.Namespace(**{k: v for k, v in cfg.items() if not isinstance(v, (dict, list))})
    state = {k.removeprefix("model."): v for k, v in load_file(fx / "joyvasa_tiny_weights.safetensors").items()}
    torch.save({"args": args, "model": state, "iter": 1}, out / "motion_generator.pt")
    post = load_file(fx / "joyvasa_tiny_postproc.safetensors")
    template = {k[4:]: v.numpy().astype(np.float32) for k, v in post.items() if k.startswith("tpl.")}
    with (out / "motion_template.pkl").open("wb") as f:
        pickle.dump(template, f)
    return out / "motion_generator.pt", hub, out / "motion_template.pkl"


def speech(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Speech-like test audio: voiced bursts with a moving pitch, separated by pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voiced = np.sin(2 * np.pi * np.cumsum(f0) / rate) + 0.5 * np.sin(4 * np.pi * np.cumsum(f0) / rate)
    gate = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(np.float64)
    return (0.3 * voiced * gate + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
