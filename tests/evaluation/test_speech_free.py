"""``pyavatar eval speech-free``: mouth opens on noise, hum, a fan and clicks, per engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.evaluation import speech_free
from pyavatar.evaluation.speech_free import GOAL_OPEN_RATE, RATE, evaluate_speech_free, signals
from pyavatar.motion.learned.engine import bundled_weights


def test_signals_are_deterministic_and_at_their_levels() -> None:
    a, b = signals(3.0, seed=1), signals(3.0, seed=1)
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["pink noise -35 dBFS"], signals(3.0, seed=2)["pink noise -35 dBFS"])
    for label, x in a.items():
        assert x.dtype == np.float32 and len(x) == 3 * RATE
        if "clicks" not in label:  # the clicks sit on top of the stated noise floor
            level = float(label.split()[-2])
            assert 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2))) == pytest.approx(level, abs=0.05)
    with pytest.raises(ValueError, match="seconds must be positive"):
        signals(0.0)


def test_the_goal_is_two_percent_or_no_worse_than_dsp(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {"dsp": 0.05, "learned": 0.04}
    monkeypatch.setattr(speech_free, "open_rate", lambda motion, feats, weights=None: rates[motion])
    r = evaluate_speech_free("learned", compare=("dsp",), seconds=1.0)
    assert all(r["met"].values())  # 4 % > 2 %, but below DSP's 5 %
    rates["learned"] = 0.06
    assert not any(evaluate_speech_free("learned", compare=("dsp",), seconds=1.0)["met"].values())
    rates["learned"] = GOAL_OPEN_RATE
    assert all(evaluate_speech_free("learned", seconds=1.0)["met"].values())  # no DSP to compare: 2 %


def test_cli_scores_engines_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sf.json"
    assert main(["eval", "speech-free", "--motion", "dsp", "--seconds", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    labels = list(signals(1.0))
    assert list(report["open_rate"]) == ["dsp"] and list(report["open_rate"]["dsp"]) == labels
    assert all(0.0 <= v <= 1.0 for v in report["open_rate"]["dsp"].values())
    assert all(label in text for label in labels) and "goal (open rate <= 2%):" in text
    # scored itself, DSP is held to the 2 % goal (its clicks and loud pink noise miss it)
    assert report["met"] == {k: v <= GOAL_OPEN_RATE for k, v in report["open_rate"]["dsp"].items()}
    # a source that cannot be scored is refused by name
    assert main(["eval", "speech-free", "--motion", "diffusion", "--seconds", "1"]) == 1
    assert "motion source 'diffusion'" in capsys.readouterr().err


@pytest.mark.skipif(bundled_weights() is None, reason="this build ships no learned model")
def test_the_bundled_model_keeps_the_mouth_closed_on_speech_free_input() -> None:
    # other noise draws than the benchmark's (seed 5); hum and clicks are kinds it never trained on
    r = evaluate_speech_free("learned", compare=("dsp",), seconds=10.0, seed=7)
    assert all(r["met"].values()), r["open_rate"]
    assert max(r["open_rate"]["learned"].values()) <= GOAL_OPEN_RATE
