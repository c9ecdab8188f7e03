"""Load JoyVASA motion-generator checkpoints without executing pickled code.

The release (``motion_generator_hubert_chinese.pt``) is a ``torch.save`` dict
``{"args": argparse.Namespace, "model": state_dict, "iter": int}``. It is read
with ``torch.load(weights_only=True)`` and an explicit allowlist of the few
plain classes such checkpoints contain (:data:`ALLOWED_GLOBALS`); anything
else in the pickle is refused with an error naming it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from pyavatar.checkpoints import check_finite
from pyavatar.motion.common.ssl import (
    SSLConfig,
    infer_ssl_config,
    normalise_ssl_keys,
    read_hf_config,
    read_hf_weights,
)
from pyavatar.motion.joyvasa.model import JoyVASA, JoyVASAConfig

#: Classes a JoyVASA checkpoint may reference besides tensors and builtins.
ALLOWED_GLOBALS: list[type] = [
    argparse.Namespace,
    pathlib.PosixPath,
    pathlib.WindowsPath,
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
]
_ARG_FIELDS = ("n_motions", "fps", "pad_mode", "cfg_scale", "diff_schedule")
_DROPPED = ("denoising_net.TE.pe",)
_REQUIRED = (
    "start_motion_feat",
    "start_audio_feat",
    "diffusion_sched.betas",
    "audio_feature_map.weight",
    "denoising_net.transformer.layers.0.linear1.weight",
)


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, Tensor]]:
    """``(args, state_dict)`` of a JoyVASA ``.pt`` checkpoint, loaded with the allowlist only."""
    path = _checkpoint_file(path)
    with torch.serialization.safe_globals(ALLOWED_GLOBALS):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated, empty or not a torch file
            raise ValueError(
                f"{path}: cannot read the JoyVASA checkpoint ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else 'file ends early'}); "
                "the file is damaged or not a torch checkpoint"
            ) from None
        except pickle.UnpicklingError as e:
            first = str(e).strip().splitlines()
            reason = next(
                (ln for ln in first if "Unsupported" in ln or "global" in ln.lower()), first[0] if first else ""
            )
            raise ValueError(
                f"{path}: refused to unpickle (only tensors, builtins and "
                f"{[c.__name__ for c in ALLOWED_GLOBALS]} are allowed): {reason}"
            ) from None
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        raise ValueError(
            f"{path}: expected a dict with 'args' and 'model', got {type(ckpt).__name__}"
            f"{' with keys ' + str(sorted(ckpt)) if isinstance(ckpt, Mapping) else ''}"
        )
    args = ckpt.get("args")
    args = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    return args, dict(ckpt["model"])


def _checkpoint_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"JoyVASA checkpoint {path} is a directory; give the .pt or .safetensors file")
    if not path.is_file():
        raise FileNotFoundError(f"JoyVASA checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the JoyVASA checkpoint file is empty (0 bytes)")
    return path


def read_safetensors(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` state dict (errors name the file)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = _checkpoint_file(path)
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the safetensors file ({e}); the file is damaged or truncated") from None


def check_dtypes(model: torch.nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Refuse integer/bool tensors for floating-point parameters and buffers (they would be cast silently)."""
    own = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    for key, value in state.items():
        target = own.get(key)
        if target is not None and target.is_floating_point() and not value.is_floating_point():
            raise ValueError(
                f"{source}: key '{key}' holds {value.dtype} weights, the model expects floating "
                f"point ({target.dtype}); this is not a JoyVASA checkpoint as released"
            )


def _strip(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if all(k.startswith("model.") for k in state):
        return {k[len("model.") :]: v for k, v in state.items()}
    return dict(state)


def _count(state: Mapping[str, Tensor], prefix: str) -> int:
    return len({k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)})


def config_from_checkpoint(
    args: Mapping, state: Mapping[str, Tensor], audio: SSLConfig, *, pe_mode: str, n_heads: int
) -> JoyVASAConfig:
    """Sizes from the weights, the rest (fps, window, padding, guidance) from ``args``."""
    start_motion, start_audio = state["start_motion_feat"], state["start_audio_feat"]
    steps = int(state["diffusion_sched.betas"].shape[0]) - 1
    n_prev = int(start_motion.shape[1])
    kw = {k: args[k] for k in _ARG_FIELDS if k in args and args[k] is not None}
    if "denoising_net.alignment_mask" in state:
        kw["n_motions"] = int(state["denoising_net.alignment_mask"].shape[0]) - n_prev
    return JoyVASAConfig(
        motion_feat_dim=int(start_motion.shape[2]),
        n_prev_motions=n_prev,
        feature_dim=int(start_audio.shape[2]),
        n_heads=n_heads,
        n_layers=_count(state, "denoising_net.transformer.layers."),
        mlp_ratio=int(state["denoising_net.transformer.layers.0.linear1.weight"].shape[0]) // int(start_audio.shape[2]),
        n_diff_steps=steps,
        pe_mode=pe_mode,
        audio=audio,
        **kw,
    )


def load_joyvasa(
    path: str | Path,
    hubert_dir: str | Path | None = None,
    *,
    args: Mapping | str | Path | None = None,
    pe_mode: str = "legacy",
    n_heads: int = 8,
    device: str | torch.device = "cpu",
) -> JoyVASA:
    """A JoyVASA motion generator in eval mode.

    Args:
        path: the released ``.pt`` checkpoint, or a ``.safetensors`` state dict
            (then ``args`` gives the hyper-parameters).
        hubert_dir: local Hugging Face directory of the speech encoder the
            model was built on (``chinese-hubert-base``): its ``config.json``
            sets the encoder architecture and its weights fill any encoder
            tensor the checkpoint lacks. Without it the architecture is
            inferred from the weights (standard base/large layouts only).
        args: overrides/extra hyper-parameters (dict or JSON file).
        pe_mode: ``"legacy"`` (the released checkpoint's training code) or ``"fixed"``.
        n_heads: attention heads of the denoiser (JoyVASA hard-codes 8).
        device: where the model's tensors are placed.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        ck_args, state = {}, read_safetensors(path)
    else:
        ck_args, state = read_checkpoint(path)
    check_finite(state, str(path))
    if isinstance(args, (str, Path)):
        args = json.loads(Path(args).read_text())
    ck_args.update(args or {})
    state = {k: v for k, v in _strip(state).items() if k not in _DROPPED}
    lacking = [k for k in _REQUIRED if k not in state]
    if lacking:
        raise ValueError(f"{path}: JoyVASA checkpoint lacks {lacking[0]!r}; is this a JoyVASA motion generator?")
    enc_state = {k[len("audio_encoder.") :]: v for k, v in state.items() if k.startswith("audio_encoder.")}
    base = read_hf_weights(hubert_dir) if hubert_dir is not None else None
    if base is not None:
        enc_state = {**normalise_ssl_keys(base), **normalise_ssl_keys(enc_state)}
    audio_cfg = read_hf_config(hubert_dir) if hubert_dir is not None else infer_ssl_config(enc_state)
    cfg = config_from_checkpoint(ck_args, state, audio_cfg, pe_mode=pe_mode, n_heads=n_heads)
    model = JoyVASA(cfg)
    rest = {k: v for k, v in state.items() if not k.startswith("audio_encoder.")}
    check_dtypes(model, rest, str(path))
    try:
        model.audio_encoder.load_hf_state_dict(enc_state)
        missing, unexpected = model.load_state_dict(rest, strict=False)
    except RuntimeError as e:  # shape mismatches: torch names key and shapes, the file is added here
        raise ValueError(f"{path}: state dict does not fit JoyVASA: {e}") from None
    missing = [k for k in missing if not k.startswith(("audio_encoder.", "denoising_net.TE."))]
    if missing or unexpected:
        raise ValueError(
            f"{path}: state dict does not match JoyVASA (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model.to(device).eval()
