"""JoyVASA conformance: the tiny fixture in motion/joyvasa of the fixtures reproduced through load_joyvasa.

Tolerance: 2e-6 max-abs, the bound the fixture README states for an independent re-implementation; the
sinusoid tables are compared with a float32 rounding bound instead (see ``_sinusoid_bound``).
Every size comes from the fixture's config and tensors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pyavatar.motion.joyvasa import (
    MotionTemplate,
    SourceKeypoints,
    compose_keypoints,
    ema_smooth,
    generate,
    load_joyvasa,
    rotation_matrix,
    sample_window,
)
from pyavatar.motion.joyvasa.model import sinusoid_table

TOL = 2e-6


@pytest.fixture(scope="module")
def fx(fixtures_dir: Path) -> Path:
    return fixtures_dir / "motion/joyvasa"


@pytest.fixture(scope="module")
def cfg(fx: Path) -> dict:
    return json.loads((fx / "joyvasa_tiny_config.json").read_text())


@pytest.fixture(scope="module")
def io(fx: Path) -> dict[str, torch.Tensor]:
    return load_file(fx / "joyvasa_tiny_io.safetensors")


@pytest.fixture(scope="module")
def checkpoint(fx: Path, cfg: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture weights saved in the released layout ({'args': Namespace, 'model', 'iter'}) + a HuBERT dir."""
    d = tmp_path_factory.mktemp("joyvasa")
    hub = d / "chinese-hubert-tiny"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({**cfg["hubert"], "model_type": "hubert"}))
    args = argparse.Namespace(**{k: v for k, v in cfg.items() if not isinstance(v, (dict, list))})
    state = {k.removeprefix("model."): v for k, v in load_file(fx / "joyvasa_tiny_weights.safetensors").items()}
    torch.save({"args": args, "model": state, "iter": 20000}, d / "motion_generator.pt")
    return d / "motion_generator.pt", hub


def _maxerr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.fixture(scope="module", params=["fixed", "legacy"])
def variant(request: pytest.FixtureRequest, checkpoint, io, fx: Path):
    ref = io if request.param == "fixed" else load_file(fx / "joyvasa_tiny_io_legacy_pe.safetensors")
    return load_joyvasa(*checkpoint, pe_mode=request.param), ref


def test_loader_reads_sizes_from_weights_and_args(checkpoint, cfg: dict) -> None:
    m = load_joyvasa(*checkpoint)
    c = m.cfg
    keys = (
        "motion_feat_dim",
        "n_motions",
        "n_prev_motions",
        "feature_dim",
        "n_layers",
        "n_heads",
        "n_diff_steps",
        "cfg_scale",
        "fps",
    )
    assert {k: getattr(c, k) for k in keys} == {k: cfg[k] for k in keys}
    assert c.audio.num_attention_heads == cfg["hubert"]["num_attention_heads"]
    assert c.audio.num_hidden_layers == cfg["hubert"]["num_hidden_layers"]
    assert not m.training


def _sinusoid_bound(rows: int, dim: int) -> torch.Tensor:
    """Largest difference between two float32 computations of ``sinusoid_table(rows, dim)``.

    Both round the same float32 recipe; they may differ in ``exp`` (each within 1 ulp: frequencies up to
    2 ulp = 4 * 2^-24 apart), in rounding ``p * w_c`` (2^-24 relative each) and in ``sin``/``cos`` (1 ulp of a
    value below 1 each). So ``|delta| <= (6 p w_c + 2) 2^-24``. The checkpoint was made on a machine whose
    vectorised ``exp`` rounds one frequency 1 ulp away from the correctly rounded value, which moves late rows
    by 1.5e-5: far past 2e-6, well inside this bound (half of it, measured).
    """
    p = torch.arange(rows, dtype=torch.float64).unsqueeze(1)
    w = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    return ((6 * p * w + 2) * 2.0**-24).repeat_interleave(2, dim=1)


def test_schedule_and_tables_match_checkpoint_buffers(checkpoint, fx: Path) -> None:
    m = load_joyvasa(*checkpoint)
    w = load_file(fx / "joyvasa_tiny_weights.safetensors")
    fresh = type(m.diffusion_sched)(m.cfg.n_diff_steps)  # computed, not loaded
    for k in ("betas", "alphas", "alpha_bars", "sigmas_inflex", "sigmas_flex"):
        assert _maxerr(getattr(fresh, k), w[f"model.diffusion_sched.{k}"]) <= TOL, k
    # PE is loaded from the checkpoint (bit for bit); TE is dropped at load and recomputed
    assert torch.equal(m.denoising_net.PE.pe, w["model.denoising_net.PE.pe"])
    recomputed = {"PE": sinusoid_table(*w["model.denoising_net.PE.pe"].shape[1:]), "TE": m.denoising_net.TE.pe[0]}
    for name, table in recomputed.items():
        want = w[f"model.denoising_net.{name}.pe"][0].double()
        assert table.shape == want.shape, name
        excess = (table.double() - want).abs() - _sinusoid_bound(*want.shape)
        assert excess.max() <= 0, f"{name} row {int(excess.max(1).values.argmax())} is past the float32 bound"


@torch.no_grad()
def test_hubert_and_audio_features(checkpoint, io) -> None:
    m = load_joyvasa(*checkpoint)
    a = io["in.audio"]
    assert _maxerr(m.hubert_hidden(a[:, :64000]), io["mid.hubert_last_hidden_50hz_w0"]) <= TOL
    assert _maxerr(m.audio_features(a[:, :64000]), io["mid.audio_feat_w0"]) <= TOL
    assert _maxerr(m.audio_features(a[:, 64000:]), io["mid.audio_feat_w1"]) <= TOL


@torch.no_grad()
def test_denoiser_single_call(variant, io) -> None:
    m, ref = variant
    x, want = ref["mid.denoiser_t37_in_x"], ref["mid.denoiser_t37_out"]
    b, c = x.shape[0], m.cfg
    audio = torch.cat([m.null_audio_feat.expand(1, c.n_motions, -1), io["mid.audio_feat_w0"]])
    out = m.denoise(
        x, audio, m.start_motion_feat.expand(b, -1, -1), m.start_audio_feat.expand(b, -1, -1), torch.full((b,), 37)
    )
    assert out.shape == want.shape == (b, c.n_prev_motions + c.n_motions, c.motion_feat_dim)
    assert _maxerr(out, want) <= TOL


def test_positional_modes_differ(variant, io) -> None:
    """Guard: the two encodings give different outputs, so each comparison above tests its own mode."""
    _, ref = variant
    assert _maxerr(ref["out.motion_w0"], io["out.motion_w0"]) > 1e-3 or ref is io


@torch.no_grad()
def test_sampler_two_chained_windows(variant, io) -> None:
    m, ref = variant
    w0 = sample_window(m, io["mid.audio_feat_w0"], io["in.x_T"], noise=io["in.z_w0"])
    assert _maxerr(w0, ref["out.motion_w0"]) <= TOL
    w1 = sample_window(
        m,
        io["mid.audio_feat_w1"],
        io["in.x_T"],
        noise=io["in.z_w1"],
        prev_motion=ref["out.motion_w0"][:, -m.cfg.n_prev_motions :],
        prev_audio=io["mid.audio_feat_w0"][:, -m.cfg.n_prev_motions :],
    )
    assert _maxerr(w1, ref["out.motion_w1"]) <= TOL


@torch.no_grad()
def test_generate_end_to_end_from_audio(variant, io) -> None:
    """Raw audio → windows → motion with the recorded noise (JoyVASA's window rule, x_T shared)."""
    m, ref = variant
    out = generate(
        m,
        io["in.audio"][0],
        silence_pad=False,
        x_T=io["in.x_T"],
        noise=lambda w, t: io[f"in.z_w{w}"][m.cfg.n_diff_steps - t],
    )
    want = torch.cat([ref["out.motion_w0"][0], ref["out.motion_w1"][0]])
    assert out.shape == want.shape
    assert _maxerr(out, want) <= TOL


def test_postprocessing(fx: Path, cfg: dict) -> None:
    p = {k: v.numpy() for k, v in load_file(fx / "joyvasa_tiny_postproc.safetensors").items()}
    tpl = MotionTemplate.from_mapping({k[4:]: v for k, v in p.items() if k.startswith("tpl.")})
    raw = tpl.denormalize(p["post.in_coef"])
    for k in ("exp", "scale", "t", "pitch", "yaw", "roll"):
        assert _maxerr(raw[k], p[f"post.raw_{k}"]) <= TOL, k
    assert _maxerr(rotation_matrix(raw["pitch"], raw["yaw"], raw["roll"]), p["post.raw_R"]) <= TOL
    ema = ema_smooth(raw)
    for k in ("exp", "scale", "t", "pitch", "yaw", "roll"):
        assert _maxerr(ema[k], p[f"post.ema_{k}"]) <= TOL, k
    ema_R = rotation_matrix(ema["pitch"], ema["yaw"], ema["roll"])
    assert _maxerr(ema_R, p["post.ema_R"]) <= TOL
    src = SourceKeypoints(
        x_c=p["src.x_c"], R=p["src.R"], exp=p["src.exp"], scale=float(p["src.scale"][0]), t=p["src.t"]
    )
    assert _maxerr(rotation_matrix(*p["src.pitch_yaw_roll_deg"]), p["src.R"]) <= TOL
    assert _maxerr(src.x_s, p["src.x_s"]) <= TOL
    kp = compose_keypoints({**ema, "R": ema_R}, src)
    assert _maxerr(kp, p["post.kp_driving"]) <= TOL
    # round trip of the normalisation
    used = max(end for name, (_, end) in cfg["motion_layout"].items() if name != "extra_unused")
    assert _maxerr(tpl.normalize(raw), p["post.in_coef"][:, :used]) <= 1e-4
