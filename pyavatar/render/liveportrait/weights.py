"""Building the LivePortrait modules and loading released checkpoints into them.

Files are found by name: ``appearance_feature_extractor``, ``motion_extractor``,
``warping_module``, ``spade_generator`` (bare state dicts) and
``stitching_retargeting_module`` (three sub-dicts ``retarget_shoulder``,
``retarget_mouth``, ``retarget_eye``), each as ``.pth`` (read with
``torch.load(weights_only=True)``: plain tensors only, nothing else is
unpickled) or ``.safetensors``. The stitching MLPs may also come as one
safetensors file with ``retarget_*.`` key prefixes or as three files
``stitching_retargeting_module.retarget_*.safetensors``.

Loading is strict: every problem (missing file, missing or unexpected key,
shape mismatch, non-tensor content, NaN/inf weights) raises :class:`CheckpointError` naming the
file, the key and both shapes.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from pyavatar.checkpoints import nonfinite_problems
from pyavatar.render.liveportrait.appearance import AppearanceFeatureExtractor
from pyavatar.render.liveportrait.config import LivePortraitConfig
from pyavatar.render.liveportrait.decoder import SPADEDecoder
from pyavatar.render.liveportrait.layers import CheckpointMapped, TensorSpec
from pyavatar.render.liveportrait.motion import MotionExtractor
from pyavatar.render.liveportrait.stitching import CHECKPOINT_NAMES, StitchingRetargeting
from pyavatar.render.liveportrait.warping import WarpingNetwork

BASE_MODULES = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
STITCHING = "stitching_retargeting_module"
MODULES = (*BASE_MODULES, STITCHING)
SUFFIXES = (".safetensors", ".pth")
_DDP_PREFIX = "module."

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, unsafe or does not fit the module."""


class LivePortraitModels(nn.Module):
    """The five inference modules, named like their checkpoint files."""

    def __init__(self, cfg: LivePortraitConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or LivePortraitConfig()
        self.cfg = cfg
        self.appearance_feature_extractor = AppearanceFeatureExtractor(cfg.appearance)
        self.motion_extractor = MotionExtractor(cfg.motion)
        self.warping_module = WarpingNetwork(cfg.warping)
        self.spade_generator = SPADEDecoder(cfg.decoder)
        self.stitching_retargeting_module = StitchingRetargeting(cfg.stitching)
        self.eval()

    def checkpoint_layouts(self) -> dict[str, dict[str, TensorSpec]]:
        """Per checkpoint (stitching split into its three sub-dicts) the expected keys → (shape, dtype)."""
        layouts = {name: checkpoint_layout(getattr(self, name)) for name in BASE_MODULES}
        s = self.stitching_retargeting_module
        for attr, sub in CHECKPOINT_NAMES.items():
            layouts[f"{STITCHING}.{sub}"] = checkpoint_layout(getattr(s, attr))
        return layouts

    @torch.no_grad()
    def randomize(self, seed: int = 0) -> LivePortraitModels:
        """Fill every module with random checkpoint tensors (for demos and timing without real weights).

        Kernels get a fan-in-scaled normal init, BatchNorm statistics plausible
        ranges, spectral-norm vectors the converged singular vectors, and the
        scale head a bias of 1.
        The images are noise-like but the computation is the real one.
        """
        gen = torch.Generator().manual_seed(seed)
        for name, layout in self.checkpoint_layouts().items():
            self.load_state(name, _random_state(layout, gen), f"random weights (seed {seed})")
        return self

    def load_state(self, name: str, state: Mapping[str, Tensor], source: str) -> None:
        """Strictly load one checkpoint (``name`` as in :meth:`checkpoint_layouts`)."""
        if name.startswith(STITCHING + "."):
            attr = {v: k for k, v in CHECKPOINT_NAMES.items()}[name.split(".", 1)[1]]
            module = getattr(self.stitching_retargeting_module, attr)
        else:
            module = getattr(self, name)
        load_checkpoint(module, state, source)


def _random_state(layout: Mapping[str, TensorSpec], gen: torch.Generator) -> dict[str, Tensor]:
    state = {}
    for key, (shape, dtype) in layout.items():
        leaf = key.rsplit(".", 1)[-1]
        if dtype == torch.int64:
            state[key] = torch.zeros(shape, dtype=dtype)
        elif len(shape) >= 2 and leaf in ("weight", "weight_orig"):
            fan_in = max(1, torch.Size(shape[1:]).numel())
            state[key] = torch.randn(shape, generator=gen) / fan_in**0.5
        elif leaf == "running_var":
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif leaf == "weight":
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:  # biases, running means, GRN γ/β
            state[key] = 0.05 * torch.randn(shape, generator=gen)
        if key.endswith("fc_scale.bias"):
            state[key] = torch.ones(shape)
    for key in [k for k in state if k.endswith(".weight_orig")]:  # converged power iteration, as in training
        w = state[key].reshape(state[key].shape[0], -1)
        v = torch.randn(w.shape[1], generator=gen)
        for _ in range(20):
            u = torch.nn.functional.normalize(w @ v, dim=0)
            v = torch.nn.functional.normalize(w.t() @ u, dim=0)
        stem = key.removesuffix("_orig")
        state[f"{stem}_u"], state[f"{stem}_v"] = u, v
    return state


# ----------------------------------------------------------------------------- layout walking


def _walk(module: nn.Module, prefix: str = "") -> Iterable[tuple[str, nn.Module]]:
    yield prefix, module
    for name, child in module.named_children():
        yield from _walk(child, f"{prefix}{name}.")


def checkpoint_layout(root: nn.Module) -> dict[str, TensorSpec]:
    """Checkpoint keys → (shape, dtype) that ``root`` loads, in module order."""
    layout: dict[str, TensorSpec] = {}
    for prefix, module in _walk(root):
        if isinstance(module, CheckpointMapped):
            entries = module.checkpoint_layout().items()
        else:
            entries = ((n, (tuple(p.shape), torch.float32)) for n, p in module.named_parameters(recurse=False))
        layout.update((prefix + k, spec) for k, spec in entries)
    return layout


def _describe(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_state(layout: Mapping[str, TensorSpec], state: Mapping[str, Tensor], source: str) -> None:
    """Raise one :class:`CheckpointError` listing every missing, unexpected, mis-shaped or non-finite key."""
    problems = []
    for key, (shape, _) in layout.items():
        if key not in state:
            problems.append(f"missing key '{key}' (expected shape {_describe(shape)})")
    for key, value in state.items():
        if key not in layout:
            shape = _describe(value.shape) if isinstance(value, Tensor) else type(value).__name__
            problems.append(f"unexpected key '{key}' (shape {shape})")
            continue
        if not isinstance(value, Tensor):
            problems.append(f"key '{key}' holds a {type(value).__name__}, not a tensor")
            continue
        shape, dtype = layout[key]
        if tuple(value.shape) != tuple(shape):
            problems.append(
                f"shape mismatch for key '{key}': checkpoint has {_describe(value.shape)}, "
                f"module expects {_describe(shape)}"
            )
        elif dtype.is_floating_point != value.dtype.is_floating_point:
            problems.append(f"dtype mismatch for key '{key}': checkpoint has {value.dtype}, module expects {dtype}")
    problems += nonfinite_problems({k: v for k, v in state.items() if k in layout})
    if problems:
        raise CheckpointError(
            f"{source}: {len(problems)} problem(s) loading the checkpoint:\n  " + "\n  ".join(problems)
        )


@torch.no_grad()
def load_checkpoint(root: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Check ``state`` against :func:`checkpoint_layout` (strict) and fill ``root`` from it."""
    check_state(checkpoint_layout(root), state, source)
    for prefix, module in _walk(root):
        if isinstance(module, CheckpointMapped):
            keys = module.checkpoint_layout()
            module.load_checkpoint(
                {
                    k: state[prefix + k].to(torch.float32)
                    if state[prefix + k].is_floating_point()
                    else state[prefix + k]
                    for k in keys
                }
            )
        else:
            for name, param in module.named_parameters(recurse=False):
                param.copy_(state[prefix + name])


# ----------------------------------------------------------------------------- reading files


def read_tensors(path: PathLike) -> dict[str, object]:
    """Tensors of a ``.safetensors`` or ``.pth`` file; a ``.pth`` is unpickled with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        if path.suffix == ".safetensors":
            return dict(load_file(str(path)))
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, SafetensorError, RuntimeError, OSError, ValueError, EOFError) as exc:
        kind = "refused or unreadable (only plain tensor checkpoints are accepted; nothing else is unpickled)"
        raise CheckpointError(f"{path}: {kind}: {exc}") from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def _strip_ddp(state: Mapping[str, object]) -> dict[str, object]:
    return {k.replace(_DDP_PREFIX, ""): v for k, v in state.items()}


def _stitching_states(files: Mapping[str, Path]) -> dict[str, tuple[dict[str, object], str]]:
    """The three stitching sub-dicts from one combined file or three split files."""
    subs = CHECKPOINT_NAMES.values()
    if STITCHING in files:
        path = files[STITCHING]
        raw = read_tensors(path)
        out = {}
        for sub in subs:
            if isinstance(raw.get(sub), Mapping):  # released .pth: nested sub-dicts
                state = dict(raw[sub])
            else:  # flattened: "retarget_shoulder.mlp.0.weight" (or "retarget_shoulder_module.…")
                state = {}
                for k, v in raw.items():
                    for head in (f"{sub}.", f"{sub}_module."):
                        if k.startswith(head):
                            state[k[len(head) :]] = v
            if not state:
                present = ", ".join(sorted(raw)[:6])
                raise CheckpointError(f"{path}: no '{sub}' sub-network found (keys start with: {present} …)")
            out[sub] = (_strip_ddp(state), f"{path} [{sub}]")
        flat_known = {f"{s}." for s in subs} | {f"{s}_module." for s in subs}
        stray = [k for k, v in raw.items() if k not in subs and not any(k.startswith(h) for h in flat_known)]
        if stray:
            raise CheckpointError(
                f"{path}: unexpected key '{stray[0]}' ({len(stray)} key(s) outside the three sub-networks)"
            )
        return out
    return {
        sub: (_strip_ddp(read_tensors(files[f"{STITCHING}.{sub}"])), str(files[f"{STITCHING}.{sub}"])) for sub in subs
    }


def find_checkpoints(source: PathLike | Iterable[PathLike] | Mapping[str, PathLike]) -> dict[str, Path]:
    """Locate the checkpoint files by name.

    Args:
        source: a directory (searched recursively), an iterable of files, or a
            mapping from module name to file.

    Returns:
        module name → file; the stitching module either as one entry or as
        three ``stitching_retargeting_module.retarget_*`` entries.
    """
    if isinstance(source, Mapping):
        found = {k: Path(v) for k, v in source.items()}
        where = "the given mapping"
    else:
        paths = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
        candidates: list[Path] = []
        for p in paths:
            if p.is_dir():
                candidates.extend(sorted(q for q in p.rglob("*") if q.suffix in SUFFIXES and q.is_file()))
            elif p.is_file():
                candidates.append(p)
            else:
                raise CheckpointError(f"{p}: no such file or directory")
        where = ", ".join(str(p) for p in paths)
        names = [*MODULES, *(f"{STITCHING}.{s}" for s in CHECKPOINT_NAMES.values())]
        found = {}
        for name in names:
            hits = [c for c in candidates if c.stem == name]
            if not hits:
                continue
            best = [c for c in hits if c.suffix == ".safetensors"] or hits
            if len({c.parent for c in best}) > 1:
                listing = ", ".join(str(c) for c in best)
                raise CheckpointError(f"{name}: several candidate files ({listing}); pass the folder of one model set")
            found[name] = best[0]
    split = [f"{STITCHING}.{s}" for s in CHECKPOINT_NAMES.values()]
    missing = [m for m in BASE_MODULES if m not in found]
    if STITCHING not in found and not all(s in found for s in split):
        missing.append(STITCHING)
    if missing:
        expected = ", ".join(f"{m}.pth|.safetensors" for m in missing)
        raise CheckpointError(f"checkpoint file(s) not found in {where}: {expected}")
    return found


def load_liveportrait(
    source: PathLike | Iterable[PathLike] | Mapping[str, PathLike],
    config: LivePortraitConfig | None = None,
) -> LivePortraitModels:
    """Build the modules for ``config`` (default: the released model) and load the checkpoints strictly.

    Args:
        source: directory holding the released files (found by name, searched
            recursively), an iterable of files, or {module name: file}.
        config: module configuration; default :class:`LivePortraitConfig`.

    Returns:
        :class:`LivePortraitModels` in eval mode on the CPU, float32.
    """
    files = find_checkpoints(source)
    models = LivePortraitModels(config)
    for name in BASE_MODULES:
        state = read_tensors(files[name])
        models.load_state(name, state, str(files[name]))
    for sub, (state, where) in _stitching_states(files).items():
        models.load_state(f"{STITCHING}.{sub}", state, where)
    return models


def convert_weights(
    source: PathLike | Iterable[PathLike] | Mapping[str, PathLike],
    destination: PathLike,
    config: LivePortraitConfig | None = None,
) -> list[Path]:
    """Validate the checkpoints in ``source`` and write them as safetensors into ``destination``.

    Keys are kept as released; the stitching file holds ``retarget_*.mlp.N.*``
    keys. Returns the written files.
    """
    files = find_checkpoints(source)
    layouts = LivePortraitModels(config).checkpoint_layouts()
    out_dir = Path(destination)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BASE_MODULES:
        state = read_tensors(files[name])
        check_state(layouts[name], state, str(files[name]))
        written.append(_save(state, out_dir / f"{name}.safetensors", name))
    merged: dict[str, object] = {}
    for sub, (state, where) in _stitching_states(files).items():
        check_state(layouts[f"{STITCHING}.{sub}"], state, where)
        merged.update({f"{sub}.{k}": v for k, v in state.items()})
    written.append(_save(merged, out_dir / f"{STITCHING}.safetensors", STITCHING))
    return written


def _save(state: Mapping[str, object], path: Path, name: str) -> Path:
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items() if isinstance(v, Tensor)}
    save_file(tensors, str(path), metadata={"format": "pt", "module": name, "source": "pyavatar convert-weights"})
    return path
