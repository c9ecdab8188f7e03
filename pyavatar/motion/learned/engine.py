"""Streaming lip engine running a trained :class:`~pyavatar.motion.learned.model.MouthNet`.

Drop-in for :class:`pyavatar.motion.lips.engine.DspLipEngine`: ``process(FeatureChunk at
100 Hz) -> LipChunk | None`` and ``flush()``. Latency: the model's look-ahead
(``lookahead`` x 10 ms) plus the features' 16 ms plus the video-frame wait.
The mouth outputs pass a noise-floor gate (:mod:`pyavatar.motion.learned.gate`;
its settings are the ``gate`` object of the model's JSON, else the defaults).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from pyavatar.audio.align import FrameAligner
from pyavatar.motion.learned.gate import GateConfig, GateWindow
from pyavatar.motion.learned.model import N_IN, InputNorm, MouthConfig, MouthNet, decode
from pyavatar.packets import NS_PER_S, FeatureChunk, LipChunk

KIND = "mouthnet"
#: Where a bundled model would live inside the package (``mouthnet.safetensors`` + ``mouthnet.json``).
BUNDLED = Path(__file__).with_name("mouthnet.safetensors")


def bundled_weights() -> Path | None:
    """The model shipped inside the package, or ``None`` when this build has none."""
    return BUNDLED if BUNDLED.is_file() else None


def read_config(weights: Path) -> dict:
    """The JSON config beside ``weights`` (same stem)."""
    cfg_path = weights.with_suffix(".json")
    if not weights.is_file():
        raise FileNotFoundError(f"motion weights not found: {weights}")
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{weights}: its config {cfg_path.name} is missing (written beside it by train-motion)")
    return json.loads(cfg_path.read_text())


def load_gate(weights: str | Path) -> GateConfig:
    """The gate settings in the JSON config beside ``weights`` (the defaults when it has none)."""
    weights = Path(weights)
    obj = read_config(weights).get("gate", {})
    if not isinstance(obj, dict):
        raise ValueError(f"{weights.with_suffix('.json')}: 'gate' must be an object, got {obj!r}")
    return GateConfig.from_dict(obj, str(weights.with_suffix(".json")))


def load_model(weights: str | Path) -> MouthNet:
    """A MouthNet from ``weights`` (safetensors) and the JSON config beside it (same stem).

    Raises ``ValueError`` naming the file and key for missing/extra keys or non-finite values.
    """
    weights = Path(weights)
    cfg_path = weights.with_suffix(".json")
    meta = read_config(weights)
    if meta.get("kind") != KIND:
        raise ValueError(f"{cfg_path}: kind must be {KIND!r}, got {meta.get('kind')!r}")
    known = MouthConfig.__dataclass_fields__
    arch = meta.get("model", {})
    bad = sorted(set(arch) - set(known))
    if bad:
        raise ValueError(f"{cfg_path}: unknown model keys {bad}")
    model = MouthNet(MouthConfig(**{k: int(v) for k, v in arch.items()}))
    state = load_file(str(weights))
    for k, v in state.items():
        if not torch.isfinite(v).all():
            raise ValueError(f"{weights}: tensor {k!r} has non-finite values")
    missing, extra = model.load_state_dict(state, strict=False)
    if missing or extra:
        raise ValueError(f"{weights}: missing keys {missing}, unexpected keys {extra}")
    return model.eval()


class LearnedLipEngine:
    """Streaming processor over a trained MouthNet (see the module docstring).

    Args:
        model: a MouthNet, or the path of its weights (its gate settings come from the JSON beside them).
        fps: output frame rate.
        gate: gate settings; ``None`` = the weights' JSON (a path) or the defaults (a model).
    """

    def __init__(self, model: MouthNet | str | Path, *, fps: float = 25.0, gate: GateConfig | None = None) -> None:
        if isinstance(model, MouthNet):
            self.model = model
            self.gate = gate or GateConfig()
        else:
            self.model = load_model(model)
            self.gate = gate or load_gate(model)
        if self.gate.lead > self.model.cfg.lookahead:
            raise ValueError(
                f"gate lead {self.gate.lead} frames exceeds the model's look-ahead {self.model.cfg.lookahead}"
            )
        self._window = GateWindow(self.gate)
        self.fps = float(fps)
        #: When set, the mouth stays closed and speaking is 0 (the model keeps listening).
        self.muted = False
        self._aligner = FrameAligner(self.fps)
        self.reset()

    @property
    def latency_s(self) -> float:
        """Audio needed past a video frame's centre before the frame is produced."""
        from pyavatar.audio.features import LOOKAHEAD_S

        return 0.5 / self.fps + LOOKAHEAD_S - 0.005 + self.model.cfg.lookahead * 0.01

    def reset(self) -> None:
        """Start a new stream."""
        self._norm = InputNorm()
        self._state: tuple | None = None
        self._skip = self.model.cfg.lookahead
        self._window.reset()
        self._aligner.reset()
        self._origin: int | None = None

    def _rows(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y, self._state = self.model(torch.from_numpy(x)[None], self._state)
        rows = decode(y[0])
        drop = min(self._skip, len(rows))
        self._skip -= drop
        rows = rows[drop:]
        if self.gate.enabled:
            rows *= self._window.take(len(rows))[:, None]
        return rows

    def _pack(self, rows: np.ndarray, first: int) -> LipChunk | None:
        if not len(rows):
            return None
        assert self._origin is not None
        f = np.ascontiguousarray(rows, dtype=np.float32)
        if self.muted:
            f = np.zeros_like(f)
        return LipChunk(
            self._origin + round(first * NS_PER_S / self.fps), self.fps, f[:, :5], f[:, 5], f[:, 6], f[:, 7], f[:, 8]
        )

    def process(self, feats: FeatureChunk) -> LipChunk | None:
        """Video frames completed by ``feats`` (100 Hz features)."""
        if abs(feats.frame_rate - 100.0) > 1e-6:
            raise ValueError(f"LearnedLipEngine needs 100 Hz features, got {feats.frame_rate} Hz")
        if self._origin is None:
            self._origin = feats.pts_ns
        first = self._aligner.next_frame
        self._window.push(feats.rms)
        rows = self._rows(self._norm(feats.log_mel, feats.voicing))
        return self._pack(self._aligner.process(rows), first)

    def flush(self) -> LipChunk | None:
        """The last frames (the look-ahead is filled with silence rows); resets the engine."""
        if self._origin is None:
            return None
        first = self._aligner.next_frame
        tail = self._rows(np.zeros((self.model.cfg.lookahead, N_IN), np.float32))
        done = self._aligner.process(tail)
        last = self._aligner.flush()
        out = self._pack(np.concatenate([done, last]) if len(last) else done, first)
        self.reset()
        return out
