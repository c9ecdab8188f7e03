"""End to end: synth -> align -> train -> resume -> evaluate, on a few clips and tens of steps (CPU)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from pyavatar.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("festival") is None or shutil.which("flite") is None,
        reason="festival and flite are installed by .ci/run",
    ),
]

CONFIG = {
    "steps": 24,
    "batch": 4,
    "crop_frames": 120,
    "lr": 0.003,
    "warmup": 4,
    "val_every": 12,
    "ckpt_every": 12,
    "threads": 1,
    "val_speakers": ["flite/kal16"],
    "arch": {"hidden": 24, "layers": 3},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    assert (
        main(
            [
                "data",
                "synth",
                str(data),
                "--engines",
                "espeak-ng,festival,flite",
                "--n",
                "6",
                "--seed",
                "2",
                "--voices",
                "espeak-ng=en-us+m1,festival=kal_diphone,flite=kal",
            ]
        )
        == 0
    )
    assert (
        main(["data", "synth", str(data), "--engines", "flite", "--n", "2", "--seed", "3", "--voices", "flite=kal16"])
        == 0
    )
    # a "recording": festival speech with its transcript, aligned into the set as a user would
    from pyavatar.data.engines import festival

    text = "Please put the heavy boxes by the back door."
    sp = festival(text, rate=1.1)
    wav = root / "me.wav"
    sf.write(wav, sp.samples, sp.sample_rate)
    (root / "me.txt").write_text(text)
    assert main(["data", "align", str(wav), str(root / "me.txt"), "--out", str(data), "--speaker", "me"]) == 0
    (root / "cfg.json").write_text(json.dumps(CONFIG))
    return root


def _train(root: Path, run: str, *extra: str) -> None:
    args = [
        "train-motion",
        "--data",
        str(root / "data"),
        "--out",
        str(root / run),
        "--config",
        str(root / "cfg.json"),
        "--device",
        "cpu",
        *extra,
    ]
    assert main(args) == 0


def test_train_resume_is_bit_exact_and_loss_falls(workdir: Path) -> None:
    _train(workdir, "full")
    _train(workdir, "split", "--stop-at", "12")
    assert json.loads((workdir / "split" / "last.json").read_text())["step"] == 12
    _train(workdir, "split", "--resume")
    a, b = load_file(str(workdir / "full" / "last.safetensors")), load_file(str(workdir / "split" / "last.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    full_log = (workdir / "full" / "train.csv").read_text()
    assert full_log == (workdir / "split" / "train.csv").read_text()
    rows = list(csv.DictReader(full_log.splitlines()))
    loss = np.array([float(r["loss"]) for r in rows])
    assert len(loss) == CONFIG["steps"] and loss[-6:].mean() < loss[:6].mean() * 0.9
    val = list(csv.DictReader((workdir / "full" / "val.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in val] == [12, 24]
    best = json.loads((workdir / "full" / "best.json").read_text())
    assert best["kind"] == "mouthnet" and best["validation"]["score"] == max(float(r["score"]) for r in val)


def test_eval_scores_the_checkpoint_per_family(workdir: Path) -> None:
    out = workdir / "report.json"
    weights = workdir / "full" / "best.safetensors"
    assert (
        main(
            [
                "eval",
                "lipsync",
                str(workdir / "data"),
                "--motion",
                "learned",
                "--motion-weights",
                str(weights),
                "--compare",
                "dsp",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    rep = json.loads(out.read_text())
    assert set(rep["per_family"]) == {"espeak-ng", "festival", "flite", "me"}
    for fam in rep["per_family"].values():
        assert set(fam) == {"learned", "dsp", "baseline", "files"}
    pooled = rep["pooled"]
    assert pooled["learned"]["frames"] == pooled["dsp"]["frames"] == pooled["baseline"]["frames"] > 100
    assert pooled["learned"] != pooled["dsp"]


def test_streaming_engine_matches_offline_prediction(workdir: Path) -> None:
    from pyavatar.audio.analyzer import analyze
    from pyavatar.audio.sources import FileSource
    from pyavatar.evaluation.lipsync import run_engine
    from pyavatar.motion.learned import LearnedLipEngine, load_model
    from pyavatar.motion.learned.gate import GateConfig
    from pyavatar.motion.learned.model import InputNorm
    from pyavatar.packets import FeatureChunk
    from pyavatar.training.trainer import predict

    model = load_model(workdir / "full" / "best.safetensors")
    wav = sorted((workdir / "data").glob("*.wav"))[0]
    feats = analyze(FileSource(wav, chunk_ms=100), FileSource(wav).sample_rate)
    offline = predict(model, InputNorm()(feats.log_mel, feats.voicing))

    def stream(engine: LearnedLipEngine) -> np.ndarray:
        parts = []
        for a in range(0, len(feats), 7):  # odd chunking
            sl = slice(a, a + 7)
            chunk = FeatureChunk(
                feats.pts_ns + a * 10_000_000,
                100.0,
                feats.log_mel[sl],
                feats.mfcc[sl],
                feats.rms[sl],
                feats.voicing[sl],
                feats.f0[sl],
            )
            out = engine.process(chunk)
            if out is not None:
                parts.append(out.jaw_open)
        tail = engine.flush()
        return np.concatenate(parts + ([tail.jaw_open] if tail is not None else []))

    ungated = stream(LearnedLipEngine(model, gate=GateConfig(enabled=False)))  # the model alone
    assert len(ungated) == len(offline.jaw_open)
    np.testing.assert_allclose(ungated, offline.jaw_open, atol=1e-5)
    streamed = stream(LearnedLipEngine(model))  # with the noise gate: still chunking-invariant
    whole = run_engine(LearnedLipEngine(model), feats)
    np.testing.assert_allclose(whole.jaw_open, streamed, atol=1e-5)
    assert (streamed <= ungated + 1e-6).all()


def test_bad_weights_are_rejected_naming_file_and_key(workdir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from pyavatar.motion.learned import load_model

    src = workdir / "full" / "best.safetensors"
    state = load_file(str(src))
    key = sorted(state)[0]
    state[key] = state[key].clone().fill_(float("nan"))
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    shutil.copy(src.with_suffix(".json"), bad.with_suffix(".json"))
    with pytest.raises(ValueError, match=f"bad.safetensors: tensor '{key}'"):
        load_model(bad)


def test_trained_model_drives_render_and_live(workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from pyavatar.assets import DEMO_PORTRAIT

    weights = str(workdir / "full" / "best.safetensors")
    wav = str(workdir / "me.wav")
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "render",
                str(DEMO_PORTRAIT),
                wav,
                "-o",
                str(out),
                "--renderer",
                "probe",
                "--fps",
                "25",
                "--no-progress",
                "--motion",
                "learned",
                "--motion-weights",
                weights,
            ]
        )
        == 0
    )
    assert out.stat().st_size > 0
    stats = tmp_path / "stats.json"
    assert (
        main(
            [
                "live",
                str(DEMO_PORTRAIT),
                "--audio",
                wav,
                "--renderer",
                "probe",
                "--control",
                "off",
                "--motion",
                "learned",
                "--motion-weights",
                weights,
                "--duration",
                "2",
                "--stats-json",
                str(stats),
            ]
        )
        == 0
    )
    assert "learned" in capsys.readouterr().out


def test_learned_source_refuses_bad_weights_before_audio(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pyavatar.assets import DEMO_PORTRAIT

    missing = tmp_path / "none.safetensors"
    out = tmp_path / "out.mp4"
    code = main(
        [
            "render",
            str(DEMO_PORTRAIT),
            str(workdir / "me.wav"),
            "-o",
            str(out),
            "--renderer",
            "probe",
            "--no-progress",
            "--motion",
            "learned",
            "--motion-weights",
            str(missing),
        ]
    )
    assert code != 0 and not out.exists()
    assert str(missing) in capsys.readouterr().err
    # a config that does not match the tensors: named with the offending keys
    wrong = tmp_path / "wrong.safetensors"
    shutil.copy(workdir / "full" / "best.safetensors", wrong)
    cfg = json.loads((workdir / "full" / "best.json").read_text())
    cfg["model"]["layers"] = int(cfg["model"]["layers"]) + 1
    wrong.with_suffix(".json").write_text(json.dumps(cfg))
    from pyavatar.motion.registry import make_motion_source

    with pytest.raises(ValueError, match="wrong.safetensors: missing keys"):
        make_motion_source("learned", fps=25, weights=wrong)
    with pytest.raises(ValueError, match="does not take"):
        make_motion_source("dsp", fps=25, weights=wrong)


def test_fine_tuning_starts_from_the_bundled_model(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    from pyavatar.motion.learned.engine import bundled_weights, read_config

    bundled = bundled_weights()
    if bundled is None:
        pytest.skip("this build ships no learned model")
    cfg = {k: v for k, v in CONFIG.items() if k != "arch"} | {"steps": 4, "val_every": 4, "ckpt_every": 4, "lr": 1e-4}
    (workdir / "tune.json").write_text(json.dumps(cfg))
    args = ["train-motion", "--data", str(workdir / "data"), "--config", str(workdir / "tune.json"), "--device", "cpu"]
    assert main([*args, "--out", str(workdir / "tuned"), "--init", "bundled"]) == 0
    meta, start = json.loads((workdir / "tuned" / "final.json").read_text()), read_config(bundled)
    assert meta["model"] == start["model"] and meta["gate"] == start["gate"] and meta["init"] == str(bundled)
    tuned, base = load_file(str(workdir / "tuned" / "final.safetensors")), load_file(str(bundled))
    change = max(float((tuned[k] - base[k]).abs().max() / (base[k].abs().max() + 1e-6)) for k in base)
    assert 0 < change < 0.05  # four small steps from the bundled weights, not a fresh model
    # an explicit arch that differs from the weights' is refused, naming the file
    (workdir / "tune_arch.json").write_text(json.dumps(cfg | {"arch": CONFIG["arch"]}))
    capsys.readouterr()
    code = main(
        [*args[:-4], "--config", str(workdir / "tune_arch.json"), "--out", str(workdir / "t2"), "--init", "bundled"]
    )
    assert code != 0 and "mouthnet.json: its model" in capsys.readouterr().err
