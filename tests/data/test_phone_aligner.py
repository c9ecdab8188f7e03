"""The phone-model aligner: classes, forced Viterbi, the model file, training, re-aligning a folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pyavatar.cli import main
from pyavatar.data import phone_model
from pyavatar.data.phone_model import CLASSES, STOPS, phone_class
from pyavatar.data.viterbi import forced_path
from pyavatar.evaluation.dataset import load_dataset, reference_from_phones, save_item, write_manifest


def _scores(labels: list[int], noise: float = 0.3, seed: int = 0) -> np.ndarray:
    """Log scores that favour ``labels[t]`` at frame t, with noise."""
    rng = np.random.default_rng(seed)
    s = np.log(np.full((len(labels), len(CLASSES)), 0.02)) + rng.normal(0, noise, (len(labels), len(CLASSES)))
    s[np.arange(len(labels)), labels] = np.log(0.6)
    return s


def test_phone_classes_follow_the_first_ipa_symbol() -> None:
    c = CLASSES.index
    assert phone_class("tʃ") == c("t") and phone_class("dʒ") == c("d")
    assert phone_class("ɑ̃") == c("a") and phone_class("aɪ") == c("a") and phone_class("oːɹ") == c("o")
    assert phone_class("ɾ") == c("r") and phone_class("β") == c("b") and phone_class("ŋ") == c("n")
    assert phone_class("ʘ") == c("ə")  # unknown symbols fall back to the neutral vowel
    assert {CLASSES[i] for i in STOPS} == {"p", "b", "t", "d", "k", "g"}


def test_forced_path_recovers_known_segments() -> None:
    a, t, i = CLASSES.index("a"), CLASSES.index("t"), CLASSES.index("i")
    truth = [0] * 10 + [a] * 12 + [t] * 6 + [i] * 15 + [0] * 7
    path, score = forced_path(_scores(truth), [a, t, i], stops=STOPS)
    expect = np.array([-1] * 10 + [0] * 12 + [1] * 6 + [2] * 15 + [-1] * 7)
    np.testing.assert_array_equal(path, expect)
    assert np.isfinite(score)


def test_a_stop_closure_is_not_a_pause_but_a_real_gap_is() -> None:
    a, p, i = CLASSES.index("a"), CLASSES.index("p"), CLASSES.index("i")
    # a 8-frame silent closure inside the stop, then its 2-frame release
    truth = [a] * 10 + [0] * 8 + [p] * 2 + [i] * 10
    path, _ = forced_path(_scores(truth), [a, p, i], stops=STOPS, min_frames=2)
    assert (path[10:20] == 1).all() and (path >= 0).all()
    # without the closure rule the silence becomes a pause
    path, _ = forced_path(_scores(truth), [a, p, i], stops=(), min_frames=2, pause_penalty=0.5)
    assert (path[10:18] == -1).sum() >= 6
    # a long silence between two vowels is a pause
    truth = [a] * 10 + [0] * 20 + [i] * 10
    path, _ = forced_path(_scores(truth), [a, i], stops=STOPS)
    assert (path[12:28] == -1).all()


def test_pauses_over_loud_frames_cost_extra() -> None:
    from pyavatar.data.align import loud_frames

    a, i = CLASSES.index("a"), CLASSES.index("i")
    truth = [a] * 10 + [0] * 6 + [i] * 10  # the scores see a pause ...
    path, _ = forced_path(_scores(truth), [a, i], stops=STOPS)
    assert (path[10:16] == -1).all()
    loud = np.ones(len(truth))  # ... but the frames are at speech level: no pause
    path, _ = forced_path(_scores(truth), [a, i], stops=STOPS, pause_cost=8.0 * loud)
    assert (path >= 0).all()

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, 1600), rng.normal(0, 0.02, 1600), rng.normal(0, 1e-4, 1600)])
    loud = loud_frames(x, 30)
    assert loud[:10].all() and loud[10:20].all() and not loud[20:].any()  # -14 dB is speech level, -60 dB is not


def test_forced_path_needs_room_for_every_phone() -> None:
    with pytest.raises(ValueError, match="5 frames cannot hold 2 phones of at least 3"):
        forced_path(np.zeros((5, len(CLASSES))), [1, 2], min_frames=3)
    path, _ = forced_path(np.zeros((4, len(CLASSES))), [])
    assert (path == -1).all()


def _tiny_model() -> phone_model.PhoneModel:
    cfg = phone_model.PhoneNetConfig(hidden=8, layers=1)
    prior = np.full(len(CLASSES), 1 / len(CLASSES))
    return phone_model.PhoneModel(phone_model.PhoneNet(cfg).eval(), cfg, prior, {"note": "test"})


def test_phone_model_file_round_trip_and_errors(tmp_path: Path) -> None:
    m = _tiny_model()
    path = tmp_path / "am.safetensors"
    m.save(path)
    back = phone_model.load(path)
    x = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    np.testing.assert_allclose(back.log_posteriors(x), m.log_posteriors(x), atol=1e-6)
    assert back.cfg == m.cfg and back.meta["note"] == "test"

    state = load_file(str(path))
    key = sorted(state)[0]
    state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, str(tmp_path / "bad.safetensors"))
    (tmp_path / "bad.json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match=rf"(?s)bad.safetensors.*key '{key}'"):
        phone_model.load(tmp_path / "bad.safetensors")

    meta = json.loads(path.with_suffix(".json").read_text())
    meta["classes"] = meta["classes"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(meta))
    save_file(load_file(str(path)), str(tmp_path / "old.safetensors"))
    with pytest.raises(ValueError, match="old.json: 'classes' differ"):
        phone_model.load(tmp_path / "old.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        phone_model.load(tmp_path / "missing.safetensors")


def _errors_ms(known: list, aligned: list) -> np.ndarray:
    from pyavatar.data.align_check import boundary_errors

    return boundary_errors(known, aligned) * 1000


def _speak(text: str, voice: str, rate: float) -> tuple[np.ndarray, list]:
    """16 kHz espeak-ng speech and its named phones."""
    from pyavatar.data._signal import resample_poly
    from pyavatar.data.engines import espeak as speak

    sp = speak(text, voice, rate=rate)
    x = resample_poly(sp.samples.astype(np.float64), 16000, sp.sample_rate).astype(np.float32)
    return x, [p for p in sp.phones if p.name and not p.name.startswith("(")]


def test_bundled_aligner_recovers_an_unseen_espeak_voice(espeak) -> None:  # noqa: ANN001 (fixture)
    from pyavatar.data.align import align

    # en-us+m3 and es+f5 are voices the bundled phone model never heard
    for text, voice, lang in (
        ("The old lighthouse keeper counted every passing ship.", "en-us+m3", "en"),
        ("Mañana compraremos pan y fruta en el mercado.", "es+f5", "es"),
    ):
        x, known = _speak(text, voice, 0.85)
        al = align(x, 16000, text, lang)
        err = _errors_ms(known, al.phones)
        assert len(err) >= 0.9 * len(known), voice
        assert np.median(err) <= 15 and (err <= 40).mean() >= 0.9, (voice, np.median(err), (err <= 40).mean())


def test_aligner_resamples_other_rates(espeak) -> None:  # noqa: ANN001 (fixture)
    from pyavatar.data.align import align
    from pyavatar.data.engines import espeak as speak

    text = "Please call me back after lunch."
    sp = speak(text, "en-us+f5", rate=1.0)  # espeak-ng's own 22.05 kHz
    assert sp.sample_rate != 16000
    al = align(sp.samples, sp.sample_rate, text, "en")
    err = _errors_ms([p for p in sp.phones if p.name], al.phones)
    assert len(err) >= 15 and np.median(err) <= 15


def test_dtw_method_still_available_and_unknown_method_named() -> None:
    from pyavatar.data.align import align

    with pytest.raises(ValueError, match="unknown alignment method 'hmm'"):
        align(np.zeros(16000, np.float32), 16000, "hello", "en", method="hmm")


def _write_clip(folder: Path, name: str, samples: np.ndarray, phones: list, meta: dict) -> None:
    ref = reference_from_phones(phones, len(samples) / 16000)
    ref.meta = {**meta, "phones": [list(p) for p in phones]}
    save_item(folder, name, samples, 16000, ref)


@pytest.mark.slow
def test_train_aligner_and_realign_commands(tmp_path: Path, espeak, capsys) -> None:  # noqa: ANN001
    texts = ["A big dog sat on the mat.", "Five quiet seals swim past.", "We made soup at noon."]
    src = tmp_path / "src"
    clips = []
    for k, text in enumerate(texts * 2):
        x, known = _speak(text, "en-us+f2", 0.8 + 0.1 * k)
        phones = [(p.name, p.start, p.end) for p in known]
        _write_clip(src, f"c{k}", x, phones, {"speaker": "s", "text": text, "language": "en"})
        clips.append({"name": f"c{k}", "speaker": "s"})
    _write_clip(src, "notext", x, phones, {"speaker": "s"})
    clips.append({"name": "notext", "speaker": "s"})
    write_manifest(src, clips)

    am = tmp_path / "am.safetensors"
    assert main(["data", "train-aligner", str(am), "--data", str(src), "--steps", "150"]) == 0
    assert json.loads(am.with_suffix(".json").read_text())["data"][0]["clips"] == 7
    # the trained model classifies its training frames far above chance (1 / 28)
    model = phone_model.load(am)
    y = phone_model.frame_labels(phones, len(phone_model.input_frames(x)))
    acc = (model.log_posteriors(x).argmax(1) == y).mean()
    assert acc > 0.4

    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["data", "realign", str(src), str(out), "--aligner-model", str(am)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["realigned"] == 6 and [s["name"] for s in summary["skipped"]] == ["notext"]
    items = {it.name: it for it in load_dataset(out)}
    assert set(items) == {f"c{k}" for k in range(6)} and items["c0"].reference.meta["aligner"] == "phones"
    with pytest.raises(ValueError, match="new folder"):
        from pyavatar.data.realign import realign_folder

        realign_folder(src, src)
