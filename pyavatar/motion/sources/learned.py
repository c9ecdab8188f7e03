"""The ``learned`` motion source: the ``dsp`` source with the learned lip model in the lip engine's slot.

Idle motion, emotion and every control are the ``dsp`` source's; the mouth (jaw, the five
VRM vowel visemes, wide/round, speaking probability) comes from a trained MouthNet
(:class:`pyavatar.motion.learned.LearnedLipEngine`). ``weights`` is a ``train-motion``
checkpoint (``RUN/best.safetensors`` with its JSON config beside it); without it the
model bundled in the package is used, and a build without one says what to pass.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np

from pyavatar.motion.learned.engine import LearnedLipEngine, bundled_weights
from pyavatar.motion.sources.dsp import DspMotionSource
from pyavatar.packets import NS_PER_S, FeatureChunk, LipChunk, MotionFrame


class LearnedMotionSource(DspMotionSource):
    """Streaming audio → motion frames with a trained MouthNet for the mouth.

    Args:
        fps: motion frame rate.
        seed: idle-motion seed.
        weights: MouthNet checkpoint (safetensors + same-stem JSON); None = the bundled model.

    Raises:
        ValueError / FileNotFoundError naming the file (and key) when the weights are missing or do not
        fit the model, before any audio is processed.
    """

    name = "learned"

    def __init__(self, fps: float = 30.0, *, seed: int = 0, weights: str | Path | None = None) -> None:
        super().__init__(fps, seed=seed)
        path = weights if weights is not None else bundled_weights()
        if path is None:
            raise ValueError(
                "motion source 'learned': this package has no bundled model; pass the weights of a "
                "train-motion run (--motion-weights RUN/best.safetensors)"
            )
        self._lips = LearnedLipEngine(path, fps=self.fps)  # type: ignore[assignment]
        self._pending: list[FeatureChunk] = []  # prosody frames waiting for the model's look-ahead

    def reset(self) -> None:
        """Start a new audio stream (idle motion, emotion and controls carry on)."""
        super().reset()
        self._pending = []

    def _frames(self, lips: LipChunk | None, prosody: FeatureChunk | None) -> list[MotionFrame]:
        """Pair the model's frames, which come ``lookahead`` rows late, with the prosody frames they belong to."""
        if prosody is not None and len(prosody):
            self._pending.append(prosody)
        if lips is None:
            return []
        queued = _concat(self._pending)
        n = len(lips)
        if queued is None or len(queued) < n:
            got = 0 if queued is None else len(queued)
            raise RuntimeError(f"learned motion: {n} lip frames but only {got} prosody frames")
        head, rest = _split(queued, n)
        self._pending = [rest] if len(rest) else []
        return super()._frames(lips, head)

    @property
    def lip_engine(self) -> LearnedLipEngine:  # type: ignore[override]
        """The streaming lip engine (100 Hz features → LipChunk), e.g. for the lip-sync evaluation."""
        return self._lips  # type: ignore[return-value]


def _concat(chunks: list[FeatureChunk]) -> FeatureChunk | None:
    if not chunks:
        return None
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    arrays = {
        f.name: np.concatenate([getattr(c, f.name) for c in chunks])
        for f in fields(FeatureChunk)
        if f.name not in ("pts_ns", "frame_rate")
    }
    return FeatureChunk(first.pts_ns, first.frame_rate, **arrays)


def _split(chunk: FeatureChunk, n: int) -> tuple[FeatureChunk, FeatureChunk]:
    def part(sl: slice, pts: int) -> FeatureChunk:
        arrays = {
            f.name: getattr(chunk, f.name)[sl] for f in fields(FeatureChunk) if f.name not in ("pts_ns", "frame_rate")
        }
        return FeatureChunk(pts, chunk.frame_rate, **arrays)

    return part(slice(0, n), chunk.pts_ns), part(slice(n, None), chunk.pts_ns + round(n * NS_PER_S / chunk.frame_rate))
