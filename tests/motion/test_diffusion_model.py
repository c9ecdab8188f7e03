"""Conformer denoiser, DDIM sampler, guidance plan, speech front ends, model files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pyavatar.kernels import get_backend
from pyavatar.motion.diffusion import (
    FACE_PARAMS,
    KEYPOINTS,
    Conditions,
    Guidance,
    MotionModelConfig,
    NoiseSchedule,
    SSLConfig,
    SSLEncoder,
    SSLFrontEnd,
    ddim_sample,
    guidance_plan,
    load_motion_model,
    load_ssl_encoder,
    normalization_from_template,
    random_model,
    save_motion_model,
)
from pyavatar.motion.joyvasa import MotionTemplate


def _conditions(b: int, t: int, m: int, a: int, seed: int = 0) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    on = torch.ones(b, dtype=torch.bool)
    mask = torch.zeros(b, t)
    mask[:, : t // 3] = 1
    return Conditions(
        audio=torch.randn(b, t, a, generator=g),
        audio_on=on,
        known=torch.randn(b, t, m, generator=g),
        known_mask=mask,
        emotion=torch.rand(b, 5, generator=g),
        emotion_on=on,
        emotion_ref=torch.randn(b, m, generator=g),
        ref_present=on,
        pose=torch.randn(b, 3, generator=g) * 10,
        pose_on=on,
        gaze=torch.randn(b, 2, generator=g),
        gaze_on=on,
    )


def test_schedule_and_timesteps() -> None:
    s = NoiseSchedule(1000)
    assert s.alpha_bar[0] > 0.99 and s.alpha_bar[-1] < 1e-3 and np.all(np.diff(s.alpha_bar) < 0)
    assert s.timesteps(5) == [999, 749, 500, 250, 0]
    assert s.timesteps(1) == [999]
    with pytest.raises(ValueError, match="steps"):
        s.timesteps(0)


def test_ddim_with_an_oracle_returns_its_x0() -> None:
    target = torch.randn(1, 20, 7)
    x_T = torch.randn(1, 20, 7)
    s = NoiseSchedule(1000)
    seen = []

    def oracle(x: torch.Tensor, t: int) -> torch.Tensor:
        seen.append(t)
        return target

    torch.testing.assert_close(ddim_sample(oracle, x_T, s, 4), target)
    assert seen == s.timesteps(4)
    noise = torch.randn(3, 1, 20, 7)
    torch.testing.assert_close(ddim_sample(oracle, x_T, s, 4, eta=1.0, noise=noise), target)
    with pytest.raises(ValueError, match="needs noise"):
        ddim_sample(oracle, x_T, s, 4, eta=0.5)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize(
    "g", [Guidance(), Guidance(audio=1.0, emotion=1.0), Guidance(audio=3.0, emotion=0.0, pose=1.5)]
)
def test_guidance_plan_weights_sum_to_one(g: Guidance, split: bool) -> None:
    for space in (KEYPOINTS, FACE_PARAMS):
        branches, w = guidance_plan(space, g, split_regions=split, pose_given=True)
        np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-6)
        assert len(set(branches)) == len(branches) and np.all(np.any(w != 0, axis=1))
    branches, _ = guidance_plan(KEYPOINTS, Guidance(audio=1.0, emotion=1.0), split_regions=False, pose_given=False)
    assert len(branches) == 1  # no guidance: one conditional row


def test_attention_kernel_backend_is_selectable_and_agrees() -> None:
    if get_backend("cpp").unavailable_reason():
        pytest.skip("the C++ kernels are not built")
    model = random_model(MotionModelConfig(d_model=64, heads=4, blocks=2), seed=3)
    cond = _conditions(3, 37, 70, 320)
    x, t = torch.randn(3, 37, 70), torch.tensor([999.0, 500.0, 3.0])
    with torch.no_grad():
        model.kernel_backend = "cpp"
        a = model.denoiser(x, t, cond)
        model.kernel_backend = "torch"
        b = model.denoiser(x, t, cond)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert model.denoiser.kernel_backend == "torch"


def test_conditions_and_nulls_change_the_prediction() -> None:
    model = random_model(MotionModelConfig(d_model=32, heads=2, blocks=1), seed=4)
    cond = _conditions(1, 20, 70, 320)
    x, t = torch.randn(1, 20, 70), torch.tensor([400.0])
    with torch.no_grad():
        base = model.denoiser(x, t, cond)
        for flag in ("audio_on", "emotion_on", "ref_present", "pose_on", "gaze_on"):
            off = Conditions(**{**vars(cond), flag: torch.zeros(1, dtype=torch.bool)})
            assert (model.denoiser(x, t, off) - base).abs().max() > 1e-4, flag
        later = model.denoiser(x, torch.tensor([10.0]), cond)
    assert (later - base).abs().max() > 1e-4


def test_model_file_round_trip(tmp_path: Path) -> None:
    cfg = MotionModelConfig(
        space="face_params", d_model=32, heads=2, blocks=1, audio="ssl", ssl_dim=24, ssl_states=3, ssl_downsample="conv"
    )
    model = random_model(cfg, seed=5)
    offset, scale = np.full(FACE_PARAMS.dim, 0.1, np.float32), np.full(FACE_PARAMS.dim, 2.0, np.float32)
    model.set_normalization(offset, scale)
    save_motion_model(model, tmp_path / "m.safetensors")
    loaded = load_motion_model(tmp_path / "m.safetensors", kernel_backend="torch")
    assert loaded.cfg == cfg and loaded.kernel_backend == "torch"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
    save_file({"x": torch.zeros(1)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not a pyavatar motion model"):
        load_motion_model(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="scale has zeros"):
        model.set_normalization(offset, np.zeros_like(scale))


def test_template_normalization_matches_joyvasa() -> None:
    rng = np.random.default_rng(0)
    d = {"mean_exp": rng.normal(size=63), "std_exp": rng.uniform(0.5, 2, 63)}
    for k, n in (("scale", 1), ("t", 3), ("pitch", 1), ("yaw", 1), ("roll", 1)):
        d[f"min_{k}"], d[f"max_{k}"] = rng.normal(size=n) - 2, rng.normal(size=n) + 2
    tpl = MotionTemplate.from_mapping(d)
    offset, scale = normalization_from_template(tpl)
    coef = rng.normal(size=(4, 70)).astype(np.float32)
    raw = tpl.denormalize(coef)
    flat = np.concatenate([raw["exp"].reshape(4, 63)] + [raw[k] for k in ("scale", "t", "pitch", "yaw", "roll")], 1)
    np.testing.assert_allclose(coef * scale + offset, flat, rtol=1e-5, atol=1e-5)


def test_ssl_front_end_reproduces_anitalker(fixtures_dir: Path) -> None:
    """Softmax-weighted sum over the HuBERT states and the learned 50 → 25 Hz convolution (AniTalker)."""
    fx = load_file(fixtures_dir / "motion/anitalker/anitalker_conformer_tiny.safetensors")
    out_dim, dim, _ = fx["fe.conv.weight"].shape
    fe = SSLFrontEnd(fx["fe.hubert_hidden_25"].shape[1], dim, "conv", out_dim=out_dim)
    fe.load_state_dict(
        {
            "layer_logits": fx["fe.layer_weights_logits"],
            "conv.weight": fx["fe.conv.weight"],
            "conv.bias": fx["fe.conv.bias"],
        }
    )
    with torch.no_grad():
        out = fe.reduce(fx["fe.hubert_hidden_25"])
    torch.testing.assert_close(out, fx["fe.out_25hz"], rtol=0, atol=1e-5)
    pair = SSLFrontEnd(1, 4, "mean")
    h = torch.arange(2 * 5 * 4, dtype=torch.float32).view(1, 1, 10, 4)
    torch.testing.assert_close(pair.reduce(h)[0, 0], h[0, 0, :2].mean(0))
    torch.testing.assert_close(pair(h.view(1, 1, 5, 2, 4).transpose(1, 2)), pair.reduce(h))


@pytest.mark.parametrize("stable", [False, True])
def test_speech_encoder_loads_a_hugging_face_directory(tmp_path: Path, stable: bool) -> None:
    cfg = SSLConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        conv_bias=stable,
        feat_extract_norm="layer" if stable else "group",
        do_stable_layer_norm=stable,
        model_type="wav2vec2" if stable else "hubert",
    )
    torch.manual_seed(0)
    enc = SSLEncoder(cfg).eval()
    state = {("wav2vec2." if stable else "hubert.") + k: v for k, v in enc.state_dict().items()}
    state = {k.replace("conv.weight_g", "conv.parametrizations.weight.original0"): v for k, v in state.items()}
    state["hubert.masked_spec_embed" if not stable else "wav2vec2.masked_spec_embed"] = torch.zeros(16)
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(
        json.dumps({k: v for k, v in vars(cfg).items() if k != "extra"} | {"architectures": ["Whatever"]})
    )
    save_file(state, d / "model.safetensors")
    loaded = load_ssl_encoder(d)
    wav = torch.randn(1, 8000)
    with torch.no_grad():
        a, b = enc(wav, all_layers=True), loaded(wav, all_layers=True)
    assert a.shape == (1, 3, enc.output_frames(8000), 16)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert loaded.config.extra == {"architectures": ["Whatever"]}
