"""The ``learned`` motion source: the dsp source's layers with a MouthNet mouth (random weights here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.face.params import NAMES
from pyavatar.motion.learned.engine import bundled_weights
from pyavatar.motion.learned.model import MouthConfig, MouthNet
from pyavatar.motion.registry import make_motion_source
from pyavatar.packets import AudioChunk, MotionFrame
from pyavatar.training.checkpoint import save_weights

RATE = 16_000
JAW = NAMES.index("jaw_open")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = MouthConfig(hidden=16, layers=3)
    path = tmp_path_factory.mktemp("mouth") / "m.safetensors"
    save_weights(MouthNet(cfg).state_dict(), {"kind": "mouthnet", "model": cfg.to_dict()}, path)
    return path


def _audio(seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(round(seconds * RATE)) / RATE
    voiced = np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 2.5 * t) > -0.2)
    return (0.3 * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _stream(source, audio: np.ndarray, seed: int) -> list[MotionFrame]:
    rng = np.random.default_rng(seed)
    frames, i = [], 0
    while i < len(audio):
        n = int(rng.integers(100, 9000))
        frames += source.process(AudioChunk(i * 1_000_000_000 // RATE, RATE, audio[i : i + n]), False)
        i += n
    return frames + source.flush()


def test_learned_source_streams_like_dsp_and_is_chunking_invariant(weights: Path) -> None:
    audio = _audio()
    a = _stream(make_motion_source("learned", fps=25, weights=weights), audio, seed=0)
    b = _stream(make_motion_source("learned", fps=25, weights=weights), audio, seed=5)
    d = _stream(make_motion_source("dsp", fps=25), audio, seed=0)
    assert [f.index for f in a] == [f.index for f in d] == list(range(len(d)))
    np.testing.assert_allclose(np.stack([f.params for f in a]), np.stack([f.params for f in b]), atol=1e-5)
    assert np.abs(np.stack([f.params for f in a])[:, JAW] - np.stack([f.params for f in d])[:, JAW]).max() > 1e-3


def test_learned_source_honours_the_dsp_controls(weights: Path) -> None:
    audio = _audio()
    base = _stream(make_motion_source("learned", fps=25, weights=weights), audio, 0)
    muted = make_motion_source("learned", fps=25, weights=weights)
    muted.apply_control("mute", {"muted": True})
    quiet = _stream(muted, audio, 0)
    assert max(f.params[JAW] for f in base) > 0.05
    assert max(abs(f.params[JAW]) for f in quiet) < 1e-6 and max(f.speaking for f in quiet) == 0.0
    happy = make_motion_source("learned", fps=25, weights=weights)
    happy.apply_control("emotion", {"name": "happy", "intensity": 1.0, "upper": None})
    smile = NAMES.index("smile_left")
    assert np.mean([f.params[smile] for f in _stream(happy, audio, 0)]) > np.mean([f.params[smile] for f in base])


@pytest.mark.skipif(bundled_weights() is not None, reason="this build ships a model")
def test_learned_source_without_weights_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match="--motion-weights RUN/best.safetensors"):
        make_motion_source("learned", fps=25)
