"""JoyVASA checkpoint loading: allowlisted unpickling, key spellings, base HuBERT weights, window rules."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pyavatar.motion.common.ssl import SSLConfig
from pyavatar.motion.joyvasa import JoyVASA, JoyVASAConfig, generate, load_joyvasa, load_template, window_plan

TINY_AUDIO = SSLConfig(
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=4,
)


def _tiny(audio: SSLConfig = TINY_AUDIO, **kw) -> JoyVASA:
    torch.manual_seed(0)
    cfg = JoyVASAConfig(feature_dim=32, n_layers=1, n_heads=4, n_diff_steps=4, motion_feat_dim=73, audio=audio, **kw)
    m = JoyVASA(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _save(m: JoyVASA, path: Path, **args) -> Path:
    ns = argparse.Namespace(n_motions=m.cfg.n_motions, fps=25, pad_mode="zero", cfg_scale=2.0, **args)
    torch.save({"args": ns, "model": m.state_dict(), "iter": 1}, path)
    return path


def _hub_dir(path: Path, cfg: SSLConfig, weights: dict[str, torch.Tensor] | None = None) -> Path:
    path.mkdir()
    d = {k: v for k, v in vars(cfg).items() if k != "extra"}
    (path / "config.json").write_text(json.dumps(d))
    if weights is not None:
        save_file({k: v.contiguous() for k, v in weights.items()}, path / "model.safetensors")
    return path


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_malicious_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"args": _Evil(marker), "model": {}, "iter": 0}, path)
    with pytest.raises(ValueError, match=r"evil\.pt: refused to unpickle.*exec"):
        load_joyvasa(path)
    assert not marker.exists()


def test_malicious_template_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "motion_template.pkl"
    path.write_bytes(pickle.dumps({"mean_exp": _Evil(marker)}))
    with pytest.raises(ValueError, match="refusing to load global builtins.exec"):
        load_template(path)
    assert not marker.exists()


def test_template_pickle_of_arrays_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    d = {"mean_exp": rng.normal(size=63).astype(np.float32), "std_exp": np.ones(63, np.float32)}
    for k, n in (("scale", 1), ("t", 3), ("pitch", 1), ("yaw", 1), ("roll", 1)):
        d[f"min_{k}"], d[f"max_{k}"] = -np.ones(n, np.float32), np.ones(n) * 2.0
    d["mean_lip"] = np.float64(0.5)  # unused extra entries, numpy scalars included
    path = tmp_path / "motion_template.pkl"
    path.write_bytes(pickle.dumps(d, protocol=4))
    tpl = load_template(path)
    np.testing.assert_array_equal(tpl.mean_exp, d["mean_exp"])
    out = tpl.denormalize(np.full((2, 73), 0.5, np.float32))
    np.testing.assert_allclose(out["t"], 0.5, atol=1e-7)
    path.write_bytes(pickle.dumps({k: v for k, v in d.items() if k != "min_yaw"}))
    with pytest.raises(KeyError, match="min_yaw"):
        load_template(path)


def test_checkpoint_round_trip_and_weight_norm_spellings(tmp_path: Path) -> None:
    m = _tiny()
    state = m.state_dict()
    old = dict(state)  # weight_g / weight_v, as older transformers saved them
    new = {
        k.replace("conv.weight_g", "conv.parametrizations.weight.original0").replace(
            "conv.weight_v", "conv.parametrizations.weight.original1"
        ): v
        for k, v in state.items()
    }
    assert old.keys() != new.keys()
    hub = _hub_dir(tmp_path / "hub", TINY_AUDIO)
    audio = 0.1 * torch.randn(1, 64000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = m.audio_features(audio)
        for name, sd in (("old", old), ("new", new)):
            ns = argparse.Namespace(n_motions=100, fps=25)
            torch.save({"args": ns, "model": sd, "iter": 0}, tmp_path / f"{name}.pt")
            got = load_joyvasa(tmp_path / f"{name}.pt", hub).audio_features(audio)
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_base_hubert_weights_fill_missing_encoder_tensors(tmp_path: Path) -> None:
    m = _tiny()
    state = m.state_dict()
    frozen = {k: v for k, v in state.items() if k.startswith("audio_encoder.feature_extractor.")}
    ckpt = {k: v for k, v in state.items() if k not in frozen}
    base = {"hubert." + k.removeprefix("audio_encoder."): v for k, v in frozen.items()}
    base["hubert.encoder.layers.0.final_layer_norm.weight"] = torch.full((32,), 7.0)  # overridden by the checkpoint
    hub = _hub_dir(tmp_path / "hub", TINY_AUDIO, base)
    torch.save({"args": argparse.Namespace(), "model": ckpt, "iter": 0}, tmp_path / "ck.pt")
    loaded = load_joyvasa(tmp_path / "ck.pt", hub)
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0, msg=k)
    with pytest.raises(ValueError, match="missing weights"):
        load_joyvasa(tmp_path / "ck.pt", _hub_dir(tmp_path / "hub_cfg_only", TINY_AUDIO))


def test_encoder_architecture_inferred_without_hubert_dir(tmp_path: Path) -> None:
    audio = SSLConfig(
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
    )
    m = _tiny(audio)
    loaded = load_joyvasa(_save(m, tmp_path / "ck.pt"))
    assert loaded.cfg.audio == audio
    assert (loaded.cfg.n_layers, loaded.cfg.n_diff_steps, loaded.cfg.cfg_scale) == (1, 4, 2.0)


def test_bad_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_joyvasa(tmp_path / "nope.pt")
    torch.save({"weights": {}}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"odd\.pt: expected a dict with 'args' and 'model'"):
        load_joyvasa(tmp_path / "odd.pt")
    torch.save({"args": None, "model": {"x": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="lacks 'start_motion_feat'"):
        load_joyvasa(tmp_path / "other.pt")


@pytest.mark.parametrize("seconds", [0.5, 3.0, 4.0, 5.0])
def test_window_rule_frame_count(seconds: float) -> None:
    """Silence padding (2 frames before, 1 after), 100-frame windows, padded frames trimmed."""
    m = _tiny()
    n = int(16000 * seconds)
    padded = n + 1920
    windows, _, _ = window_plan(padded, m)
    assert windows == max(1, -(-int(padded / 640) // 100))
    out = generate(m, torch.zeros(n), generator=torch.Generator().manual_seed(0))
    assert out.shape == (padded // 640, 73)
    assert torch.isfinite(out).all()


def test_generate_is_seeded() -> None:
    m = _tiny()
    audio = 0.1 * torch.randn(16000 * 2, generator=torch.Generator().manual_seed(3))
    a = generate(m, audio, generator=torch.Generator().manual_seed(5))
    b = generate(m, audio, generator=torch.Generator().manual_seed(5))
    c = generate(m, audio, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3
