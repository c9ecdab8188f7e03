"""The diffusion motion model: audio front end + conformer denoiser + normalisation, saved as one file.

A model file is a ``.safetensors`` state dict whose metadata entry
``pyavatar.motion`` holds the :class:`MotionModelConfig` as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from pyavatar.checkpoints import check_finite
from pyavatar.face.params import EMOTIONS
from pyavatar.motion.diffusion.audio import FPS, LOGMEL_DIM, SSLFrontEnd
from pyavatar.motion.diffusion.conformer import ConformerConfig, ConformerDenoiser
from pyavatar.motion.diffusion.space import MotionSpace, default_normalization, get_space

AUDIO_KINDS = ("logmel", "ssl")
_META_KEY = "pyavatar.motion"


@dataclass(frozen=True)
class MotionModelConfig:
    """Architecture of a :class:`DiffusionMotionModel`.

    ``space``: ``keypoints`` (JoyVASA layout) or ``face_params``. ``audio``:
    ``logmel`` (stacked 100 Hz log-mel) or ``ssl`` (HuBERT / wav2vec 2.0
    states of width ``ssl_dim``; ``ssl_states`` > 1 learns a weighted sum over
    that many states, ``ssl_downsample`` is ``mean`` or ``conv``).
    ``train_steps``: length of the cosine noise schedule.
    """

    space: str = "keypoints"
    audio: str = "logmel"
    d_model: int = 192
    heads: int = 4
    blocks: int = 4
    ff_mult: int = 4
    conv_kernel: int = 7
    ssl_dim: int = 768
    ssl_states: int = 1
    ssl_downsample: str = "mean"
    train_steps: int = 1000

    def __post_init__(self) -> None:
        get_space(self.space)
        if self.audio not in AUDIO_KINDS:
            raise ValueError(f"MotionModelConfig: audio must be one of {AUDIO_KINDS}, got {self.audio!r}")
        if self.train_steps < 2:
            raise ValueError(f"MotionModelConfig: train_steps must be >= 2, got {self.train_steps}")

    @classmethod
    def from_dict(cls, d: dict) -> MotionModelConfig:
        """From :func:`dataclasses.asdict` output (unknown keys raise)."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"MotionModelConfig: unknown keys {sorted(unknown)}")
        return cls(**d)


class DiffusionMotionModel(nn.Module):
    """Audio → motion diffusion model for one output space (see :mod:`pyavatar.motion.diffusion`)."""

    fps = FPS

    def __init__(self, cfg: MotionModelConfig, *, kernel_backend: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.space: MotionSpace = get_space(cfg.space)
        if cfg.audio == "ssl":
            self.front = SSLFrontEnd(cfg.ssl_states, cfg.ssl_dim, cfg.ssl_downsample)
            audio_dim = cfg.ssl_dim
        else:
            self.front = None
            audio_dim = LOGMEL_DIM
        self.denoiser = ConformerDenoiser(
            ConformerConfig(
                motion_dim=self.space.dim,
                audio_dim=audio_dim,
                d_model=cfg.d_model,
                heads=cfg.heads,
                blocks=cfg.blocks,
                ff_mult=cfg.ff_mult,
                conv_kernel=cfg.conv_kernel,
                emotion_dim=len(EMOTIONS),
            ),
            kernel_backend,
        )
        offset, scale = default_normalization(self.space)
        self.register_buffer("norm_offset", torch.from_numpy(offset))
        self.register_buffer("norm_scale", torch.from_numpy(scale))
        self.register_buffer("rest", torch.from_numpy(self.space.rest()))

    @property
    def kernel_backend(self) -> str | None:
        """Backend of the attention kernel (``None`` = automatic)."""
        return self.denoiser.kernel_backend

    @kernel_backend.setter
    def kernel_backend(self, name: str | None) -> None:
        self.denoiser.kernel_backend = name

    def set_normalization(self, offset: np.ndarray, scale: np.ndarray, rest: np.ndarray | None = None) -> None:
        """Store the data statistics: normalised = (raw - offset) / scale; ``rest`` = raw neutral frame."""
        for name, v in (("offset", offset), ("scale", scale), ("rest", rest)):
            if v is not None and np.shape(v) != (self.space.dim,):
                raise ValueError(f"set_normalization: {name} must have shape ({self.space.dim},), got {np.shape(v)}")
        if np.any(np.asarray(scale) == 0):
            raise ValueError("set_normalization: scale has zeros")
        self.norm_offset.copy_(torch.as_tensor(offset, dtype=torch.float32))
        self.norm_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
        if rest is not None:
            self.rest.copy_(torch.as_tensor(rest, dtype=torch.float32))

    def normalize(self, raw: Tensor) -> Tensor:
        """Raw (…, dim) → normalised."""
        return (raw - self.norm_offset) / self.norm_scale

    def denormalize(self, x: Tensor) -> Tensor:
        """Normalised (…, dim) → raw."""
        return x * self.norm_scale + self.norm_offset

    def audio_tokens(self, audio: Tensor) -> Tensor:
        """Front end: (B, T, 320) log-mel rows or (B, T, S, 2, C) speech states → (B, T, A)."""
        return audio if self.front is None else self.front(audio)


def random_model(cfg: MotionModelConfig, *, seed: int = 0, kernel_backend: str | None = None) -> DiffusionMotionModel:
    """A randomly initialised model in eval mode (seeded), for tests, benchmarks and smoke runs."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = DiffusionMotionModel(cfg, kernel_backend=kernel_backend)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias") or "null_" in name or "layer_logits" in name:
                    p.normal_(0.0, 0.1)
    finally:
        torch.random.set_rng_state(gen_state)
    return model.eval()


def save_motion_model(model: DiffusionMotionModel, path: str | Path) -> None:
    """Write ``model`` (weights, statistics, config) to one ``.safetensors`` file (atomically: temp + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(state, str(tmp), metadata={_META_KEY: json.dumps(asdict(model.cfg))})
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_motion_model(
    path: str | Path, *, kernel_backend: str | None = None, device: str | torch.device = "cpu"
) -> DiffusionMotionModel:
    """A model written by :func:`save_motion_model`, in eval mode.

    Raises FileNotFoundError or ValueError naming the file, and for weights the key and the shapes
    (missing, unexpected, mismatched or non-finite tensors).
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"diffusion motion model not found: {path} (write one with save_motion_model)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get(_META_KEY)
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable .safetensors file ({e})") from None
    if meta is None:
        raise ValueError(f"{path}: not a pyavatar motion model (no {_META_KEY!r} metadata)")
    try:
        cfg = MotionModelConfig.from_dict(json.loads(meta))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: bad {_META_KEY!r} metadata: {e}") from None
    model = DiffusionMotionModel(cfg, kernel_backend=kernel_backend)
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the model in its metadata: missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(want[key].shape):
            raise ValueError(
                f"{path}: {key!r} has shape {tuple(tensor.shape)}, the model in its metadata "
                f"expects {tuple(want[key].shape)}"
            )
    check_finite(state, str(path))
    model.load_state_dict(state)
    return model.to(device).eval()
