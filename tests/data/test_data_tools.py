"""Data tools: phone tables, held-out policy, synthesizers, augmentation, forced aligner, Asterisk importer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.data.phonesets import CMU, RADIO, UnmappedPhone, to_ipa
from pyavatar.data.policy import HeldOutError, check_path, check_voice
from pyavatar.evaluation.dataset import load_dataset
from pyavatar.evaluation.phonemes import expand

needs_festival = pytest.mark.skipif(shutil.which("festival") is None, reason="festival not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


def test_every_phone_table_entry_has_visemes() -> None:
    for table, name in ((CMU, "cmu"), (RADIO, "radio")):
        for phone in table:
            expand(to_ipa(name, phone))
    assert to_ipa("cmu", "AH0") == "ʌ" and to_ipa("radio", "pau") == ""
    with pytest.raises(UnmappedPhone, match="cmu: phone 'qq'"):
        to_ipa("cmu", "qq")
    with pytest.raises(UnmappedPhone, match="ipa"):
        to_ipa("ipa", "ʘ")


def test_held_out_material_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for engine, voice in (
        ("flite", "slt"),
        ("flite", "awb"),
        ("flite", "rms"),
        ("festival", "cmu_us_slt_arctic_hts"),
        ("festival", "el_diphone"),
    ):
        with pytest.raises(HeldOutError):
            check_voice(engine, voice)
    check_voice("flite", "kal16")
    for path in (
        "/usr/share/asterisk/sounds/it",
        "/usr/share/asterisk/sounds/ru_RU_x/a.g722",
        "/x/asterisk-prompt-de/y.wav",
        "/data/cmu_us_bdl_arctic/wav/a.wav",
    ):
        with pytest.raises(HeldOutError):
            check_path(path)
    check_path("/usr/share/asterisk/sounds/en_US_f_Allison/added.g722")
    assert main(["data", "asterisk", str(tmp_path), "--languages", "it"]) != 0
    assert "it and ru are reserved for held-out evaluation" in capsys.readouterr().err
    assert main(["data", "synth", str(tmp_path), "--engines", "flite", "--voices", "flite=slt", "--n", "1"]) != 0
    assert "flite voice 'slt' is held out" in capsys.readouterr().err


@needs_festival
@needs_flite
def test_synth_three_engines_writes_a_labelled_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["data", "synth", str(tmp_path), "--engines", "espeak-ng,festival,flite", "--n", "3", "--seed", "5"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert summary["unmapped_phones"] == {}
    items = load_dataset(tmp_path)
    assert sorted(it.family for it in items) == ["espeak-ng", "festival", "flite"]
    for it in items:
        ref = it.reference
        assert ref.meta["speaker"].startswith(it.family + "/")
        assert ref.visemes[0] == "sil" and ref.speaking.sum() > 10
        assert sum(v in ("aa", "ih", "ou", "ee", "oh") for v in ref.visemes) > 5
        import soundfile as sf

        assert sf.info(str(it.wav)).samplerate == 16000


def test_tempo_corrects_labels_and_vtlp_warps_frequency() -> None:
    from pyavatar.data import augment

    sr = 16000
    x = np.zeros(sr * 2)
    x[sr // 2 : sr] = np.sin(2 * np.pi * 1000 * np.arange(sr // 2) / sr)  # a tone from 0.5 to 1.0 s
    y = augment.tempo(x, sr, 1.25)
    on = np.flatnonzero(np.abs(y) > 0.3)
    assert abs(on[0] / sr - 0.5 / 1.25) < 0.02 and abs(on[-1] / sr - 1.0 / 1.25) < 0.03
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr)
    for alpha in (0.9, 1.1):
        w = augment.vtlp(tone, sr, alpha)
        assert len(w) == sr
        peak = np.argmax(np.abs(np.fft.rfft(w))) * sr / len(w)
        assert abs(peak - 1000 * alpha) < 40
    assert abs(np.argmax(np.abs(np.fft.rfft(augment.telephone(tone, sr)))) - 1000) < 5
    noisy = augment.add_noise(tone, 10.0, "white", np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(tone**2) / np.mean((noisy - tone) ** 2))
    assert abs(snr - 10) < 1.0  # the speech level skips near-zero samples, so it reads slightly high


@needs_festival
def test_aligner_recovers_festival_timings() -> None:
    from pyavatar.data.align import align
    from pyavatar.data.align_check import boundary_errors
    from pyavatar.data.engines import festival

    text = "The farmer counted his sheep twice before dinner."
    sp = festival(text, rate=1.15)
    al = align(sp.samples, sp.sample_rate, text, "en")
    err = boundary_errors(sp.phones, al.phones)
    assert len(err) > 15 and np.median(err) < 0.03 and (err <= 0.04).mean() > 0.7


@pytest.mark.skipif(not Path("/usr/share/asterisk/sounds/en").is_dir(), reason="asterisk-core-sounds-en-g722 missing")
def test_asterisk_import_aligns_prompts(tmp_path: Path) -> None:
    from pyavatar.data.asterisk import import_asterisk

    summary = import_asterisk(tmp_path, ["en"], limit=3, seed=1, progress=False)
    assert summary["aligned"] == 3
    items = load_dataset(tmp_path)
    assert len(items) == summary["kept"] >= 2
    for it in items:
        assert it.family == "asterisk-en" and it.reference.meta["align_cost"] > 0
        assert it.reference.speaking.sum() > 5


def test_aligner_keeps_quiet_pauses_and_closes_loud_gaps() -> None:
    from pyavatar.data.align import PAUSE_KEEP_FRAMES, close_loud_gaps, kept_frames
    from pyavatar.evaluation.espeak import Phone

    phones = [Phone("a", 0.10, 0.30), Phone("", 0.30, 0.60), Phone("b", 0.60, 0.80), Phone("i", 0.90, 1.00)]
    kept = kept_frames(phones, 5, 105)
    assert kept[0] == 5 and kept[-1] == 104
    assert len(kept) == 100 - (60 - 30 - PAUSE_KEEP_FRAMES) - (90 - 80 - PAUSE_KEEP_FRAMES)
    level = np.full(120, -20.0)
    level[30:60] = -70.0  # a real pause; 0.80-0.90 stays at speech level
    out = close_loud_gaps([p for p in phones if p.name], level)
    assert [(p.name, p.start, p.end) for p in out] == [
        ("a", 0.10, 0.30),
        ("b", 0.60, 0.90),
        ("i", 0.90, 1.00),
    ]


def test_augment_copies_keep_speaker_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pyavatar.data.copies import augment_folder
    from pyavatar.evaluation.dataset import reference_from_phones, save_item, write_manifest

    sr = 16000
    src = tmp_path / "src"
    t = np.arange(2 * sr) / sr
    x = 0.2 * np.sin(2 * np.pi * 150 * t) * ((t > 0.5) & (t < 1.5))
    phones = [("a", 0.5, 1.0), ("m", 1.0, 1.1), ("i", 1.1, 1.5)]
    ref = reference_from_phones(phones, 2.0)
    ref.meta = {"speaker": "me", "family": "mine", "phones": [list(p) for p in phones]}
    save_item(src, "clip", x, sr, ref)
    write_manifest(src, [{"name": "clip", "speaker": "me", "family": "mine", "duration_s": 2.0}])
    summary = augment_folder(src, tmp_path / "out", 3, seed=2, progress=False)
    assert summary == {"sources": 1, "written": 3, "skipped_without_phones": []}
    items = load_dataset(tmp_path / "out")
    assert [it.name for it in items] == ["clip_aug0", "clip_aug1", "clip_aug2"]
    for it in items:
        m = it.reference.meta
        assert it.speaker == "me" and it.family == "mine" and m["augmented_from"] == "clip"
        factor = m.get("tempo", 1.0)
        assert m["phones"][0][1] == pytest.approx(0.5 / factor, abs=1e-3)
        assert len(it.reference) == pytest.approx(2.0 / factor * 25, abs=2)
    with pytest.raises(ValueError, match="another folder"):
        augment_folder(src, src, 1)
    assert main(["data", "augment", str(src), str(tmp_path / "cli"), "--copies", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 1
