"""MBROLA voices through libespeak-ng: sample rate, label timing, missing diphones, policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.data import engines
from pyavatar.data.align import align
from pyavatar.data.align_check import boundary_errors, validate
from pyavatar.data.engines import MissingDiphones, SynthError, mbrola
from pyavatar.data.policy import HeldOutError, check_voice
from pyavatar.data.synth import build
from pyavatar.evaluation.dataset import load_dataset


def _needs(*voices: str) -> pytest.MarkDecorator:
    missing = [v for v in voices if not (engines.MBROLA_DIR / v / v).is_file()]
    why = "mbrola not installed" if shutil.which("mbrola") is None else f"MBROLA voices missing: {missing}"
    return pytest.mark.skipif(
        shutil.which("mbrola") is None or bool(missing),
        reason=f"{why} (Debian contrib/non-free: mbrola {' '.join('mbrola-' + v for v in voices)})",
    )


def _onset_s(x: np.ndarray, sr: int) -> float:
    """Start of the first 2.5 ms hop within 35 dB of the loud (95th percentile) level."""
    hop = int(0.0025 * sr)
    db = 10 * np.log10(np.array([np.mean(x[i * hop : (i + 1) * hop] ** 2) for i in range(len(x) // hop)]) + 1e-12)
    return float(np.flatnonzero(db > np.percentile(db, 95) - 35)[0] * hop / sr)


def test_policy_allows_the_supported_languages_only() -> None:
    for voice in ("us1", "en1", "fr4", "es3", "de6"):
        check_voice("mbrola", voice)
    for voice in ("it1", "br2", "us9"):
        with pytest.raises(ValueError, match=f"mbrola voice '{voice}' is not supported") as err:
            check_voice("mbrola", voice)
        assert not isinstance(err.value, HeldOutError)  # unsupported, not reserved material


@_needs("us1", "fr4")
@pytest.mark.parametrize(("voice", "rate"), [("us1", 16000), ("fr4", 22050)])
def test_labels_use_the_voice_rate_and_follow_the_sound(voice: str, rate: int) -> None:
    lang = "en" if voice == "us1" else "fr"
    text = "Nobody knew who had eaten the last piece of cake." if lang == "en" else "Nous avons mangé une tarte."
    sp = mbrola(text, voice)
    assert sp.sample_rate == rate  # the voice's own rate, not espeak-ng's 22050 Hz
    named = [p for p in sp.phones if p.name]
    # libespeak-ng's events count a leading pause MBROLA does not render (40-60 ms): moved back.
    assert abs(named[0].start - _onset_s(sp.samples, sp.sample_rate)) <= 0.015
    assert abs(sp.phones[-1].end - len(sp.samples) / sp.sample_rate) < 1e-9
    assert all(p.end > p.start for p in sp.phones)
    assert sp.unmapped == []
    # Inside the utterance too: the forced aligner (6 ms median error on espeak-ng voices) agrees.
    errors = boundary_errors(sp.phones, align(sp.samples, sp.sample_rate, text, lang).phones)
    assert len(errors) > 0.8 * len(named) and np.median(errors) < 0.025


@_needs("es1")
def test_missing_diphones_raise_naming_the_voice() -> None:
    with pytest.raises(MissingDiphones, match="MBROLA voice 'es1' lacks diphones"):
        mbrola("Mi abuela cocina una sopa muy rica los lunes.", "es1")


@pytest.mark.skipif(shutil.which("mbrola") is None, reason="mbrola not installed (Debian contrib: mbrola)")
def test_a_voice_that_is_not_installed_names_its_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engines, "MBROLA_DIR", tmp_path / "mbrola")
    with pytest.raises(SynthError, match="install the Debian package mbrola-de2"):
        mbrola("Guten Tag.", "de2")
    args = ["data", "synth", str(tmp_path / "out"), "--engines", "mbrola", "--voices", "mbrola=de2", "--n", "1"]
    assert main(args) == 1  # one error line, no traceback
    assert "pyavatar data: error: MBROLA voice 'de2' not found" in capsys.readouterr().err


@_needs("us1", "es1")
def test_synth_redraws_clips_whose_voice_lacks_diphones(tmp_path: Path) -> None:
    summary = build(tmp_path, ["mbrola"], 4, seed=3, voices={"mbrola": ["es1", "us1"]}, progress=False)
    assert summary["redrawn_missing_diphones"].get("mbrola/es1", 0) > 0
    items = load_dataset(tmp_path)
    assert len(items) == 4
    for it in items:
        assert it.family == "mbrola" and it.reference.meta["speaker"] == "mbrola/us1"
        assert it.reference.speaking.sum() > 10


@_needs("us1", "fr4")
def test_align_check_reports_mbrola_per_language() -> None:  # draws among the installed voices
    report = validate(4, seed=0, engines=("mbrola",), mbrola_voices=("us1", "fr4"), progress=False)
    assert report["mbrola_voices"] == ["us1", "fr4"]
    assert set(report["per_engine"]) == {"mbrola-en", "mbrola-fr"}
    assert report["pooled"]["boundaries"] > 30 and report["pooled"]["median_ms"] < 30
    with pytest.raises(ValueError, match="align-check engines"):
        validate(1, engines=("espeak-ng",), progress=False)


@_needs("us1")
@pytest.mark.skipif(shutil.which("festival") is None or shutil.which("flite") is None, reason="festival/flite missing")
def test_align_check_cli_writes_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra, keys in (
        ([], {"festival", "flite"}),
        (["--engines", "mbrola", "--mbrola-voices", "us1"], {"mbrola-en"}),
    ):
        out = tmp_path / f"report{len(extra)}.json"
        assert main(["data", "align-check", "--n", "2", "--json", str(out), *extra]) == 0
        report = json.loads(out.read_text())
        assert set(report["per_engine"]) == keys and report["pooled"]["boundaries"] > 10
        assert json.loads(capsys.readouterr().out) == report
