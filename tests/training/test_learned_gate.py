"""The learned engine's noise-floor gate: closed on the noise floor, open on speech, streaming-exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.audio.analyzer import analyze
from pyavatar.checkpoints import save_weights
from pyavatar.motion.learned.engine import LearnedLipEngine, load_gate
from pyavatar.motion.learned.gate import GateConfig, GateWindow, NoiseGate
from pyavatar.motion.learned.model import MouthConfig, MouthNet
from pyavatar.packets import AudioChunk

RATE = 16_000


def _levels(db: list[tuple[float, int]]) -> np.ndarray:
    return np.concatenate([np.full(n, 10 ** (v / 20)) for v, n in db])


def test_noise_gate_follows_the_noise_floor() -> None:
    rms = _levels([(-70, 150), (-20, 50), (-70, 100), (-45, 100), (-70, 50)])
    flags = NoiseGate(0.6).process(rms)
    assert not flags[:150].any() and flags[150:200].all() and not flags[210:300].any()
    assert flags[310:400].all()  # 25 dB over a -70 dB floor is speech
    loud_floor = _levels([(-45, 300)])
    assert not NoiseGate(0.6).process(loud_floor)[200:].any()  # a steady hum becomes the floor


def test_gate_window_streams_like_one_call() -> None:
    rms = _levels([(-70, 60), (-20, 7), (-70, 40), (-25, 30), (-70, 20)])
    cfg = GateConfig(lead=2, hold=3)
    whole = GateWindow(cfg)
    whole.push(rms)
    ref = whole.take(len(rms))
    assert ref[58] == 1 and ref[57] == 0  # opens `lead` rows early
    assert ref[69] == 1 and ref[70] == 0  # stays `hold` rows after
    rng = np.random.default_rng(3)
    w, i, got, taken = GateWindow(cfg), 0, [], 0
    while i < len(rms):
        n = int(rng.integers(1, 9))
        w.push(rms[i : i + n])
        i += n
        ready = max((i - cfg.lead if i < len(rms) else len(rms)) - taken, 0)
        got.append(w.take(ready))
        taken += ready
    np.testing.assert_array_equal(np.concatenate(got), ref)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = MouthConfig(hidden=16, layers=3)
    path = tmp_path_factory.mktemp("mouth") / "m.safetensors"
    model = MouthNet(cfg)
    with torch.no_grad():
        model.out.bias[0] = 2.0  # an untrained mouth that is open everywhere
    save_weights(model.state_dict(), {"kind": "mouthnet", "model": cfg.to_dict()}, path)
    return path


def test_engine_closes_the_mouth_on_silence_only_with_the_gate(weights: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    x = 1e-4 * rng.standard_normal(len(t))
    speech = (t > 1.0) & (t < 1.8)
    x[speech] += 0.3 * np.sin(2 * np.pi * 150 * t[speech])
    feats = analyze([AudioChunk(0, RATE, x.astype(np.float32))], RATE)

    def jaw(gate: GateConfig) -> np.ndarray:
        e = LearnedLipEngine(weights, fps=25, gate=gate)
        return np.concatenate([p.jaw_open for p in (e.process(feats), e.flush()) if p is not None])

    on, off = jaw(GateConfig()), jaw(GateConfig(enabled=False))
    assert off[:20].min() > 0.15 and off[50:70].min() > 0.15  # the model alone opens on silence
    assert on[:23].max() == 0.0 and on[48:75].max() == 0.0  # gated: closed on the noise floor
    np.testing.assert_allclose(on[27:43], off[27:43])  # and untouched inside speech


def test_gate_settings_come_from_the_model_config(weights: Path, tmp_path: Path) -> None:
    assert load_gate(weights) == GateConfig()
    w = tmp_path / "g.safetensors"
    w.write_bytes(weights.read_bytes())
    meta = json.loads(weights.with_suffix(".json").read_text())
    w.with_suffix(".json").write_text(json.dumps({**meta, "gate": {"sensitivity": 0.9, "hold": 5}}))
    assert load_gate(w) == GateConfig(sensitivity=0.9, hold=5)
    w.with_suffix(".json").write_text(json.dumps({**meta, "gate": {"leed": 1}}))
    with pytest.raises(ValueError, match=r"g\.json: unknown gate keys \['leed'\]"):
        load_gate(w)
    with pytest.raises(ValueError, match="exceeds the model's look-ahead"):
        LearnedLipEngine(weights, gate=GateConfig(lead=9))
