"""The ``learned`` motion source: the dsp source's layers with a MouthNet mouth (random weights here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.checkpoints import save_weights
from pyavatar.face.params import NAMES
from pyavatar.motion.learned.engine import bundled_weights
from pyavatar.motion.learned.model import MouthConfig, MouthNet
from pyavatar.motion.registry import make_motion_source
from pyavatar.packets import AudioChunk, MotionFrame

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


def test_a_build_without_a_bundled_model_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyavatar.motion.sources.learned as learned

    monkeypatch.setattr(learned, "bundled_weights", lambda: None)
    with pytest.raises(ValueError, match="--motion-weights RUN/best.safetensors"):
        make_motion_source("learned", fps=25)


@pytest.mark.skipif(bundled_weights() is None, reason="this build ships no learned model")
def test_the_bundled_model_is_the_default_weights() -> None:
    source = make_motion_source("learned", fps=25)
    audio = _audio()
    frames = _stream(source, audio, 0)
    jaw = np.array([f.params[JAW] for f in frames])
    assert len(frames) == 50 and jaw.max() > 0.1 and np.isfinite(jaw).all()


def test_init_names_what_it_cannot_start_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weights: Path) -> None:
    import pyavatar.training.trainer as trainer
    from pyavatar.training.config import TrainConfig

    with pytest.raises(FileNotFoundError, match="--init: weights not found: .*nope.safetensors"):
        trainer.init_weights(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="starts the mouth model"):
        trainer.init_config(TrainConfig(model="diffusion"), weights)
    assert trainer.init_config(TrainConfig(), weights).mouth == MouthConfig(hidden=16, layers=3)  # the weights' arch
    monkeypatch.setattr(trainer, "bundled_weights", lambda: None)
    with pytest.raises(ValueError, match="ships no learned model"):
        trainer.init_weights("bundled")
