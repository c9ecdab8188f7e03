"""The bundled learned lip model on voices it never heard, next to the DSP engine, through the eval CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyavatar.cli import main
from pyavatar.motion.learned.engine import bundled_weights

# Whole espeak-ng voices held out of the bundled model's training and validation (benchmarks/LIPSYNC.md):
# its test voices. A third of the clips carry noise.
HELD_OUT = ["en-us+f3", "es+m6", "fr+m2"]


def _pooled_against_dsp(dataset: Path, report: Path) -> dict:
    """Pooled figures of the bundled model and DSP on ``dataset``, through ``pyavatar eval lipsync``."""
    cmd = ["eval", "lipsync", str(dataset), "--motion", "learned", "--compare", "dsp", "--json", str(report)]
    assert main(cmd) == 0
    return json.loads(report.read_text())["pooled"]


@pytest.mark.skipif(bundled_weights() is None, reason="this build ships no learned model")
def test_the_bundled_model_beats_dsp_on_unheard_voices(espeak, tmp_path: Path) -> None:
    from pyavatar.evaluation.synthetic import build_synthetic

    build_synthetic(tmp_path / "set", HELD_OUT, 12, seed=5, noisy_fraction=1 / 3)
    pooled = _pooled_against_dsp(tmp_path / "set", tmp_path / "report.json")
    learned, dsp = pooled["learned"], pooled["dsp"]
    # the goals for synthetic voices the model never heard (the full 30-file sets: LIPSYNC.md)
    assert learned["jaw_corr_speech"] >= 0.75, pooled
    assert learned["vowel_accuracy"] >= 0.55, pooled
    assert abs(learned["best_lag_ms"]) <= 40, pooled
    assert learned["jaw_corr_speech"] > dsp["jaw_corr_speech"] and learned["vowel_accuracy"] > dsp["vowel_accuracy"]
    # silence: 0.8-1.3 % on the full held-out sets; this 12-clip set with noisy clips reads 2.0 %, and a
    # model that mouths along with noise reads far more (the RMS baseline: 12 %)
    assert learned["silence_open_rate"] <= 0.04, pooled


_FR = Path("/usr/share/asterisk/sounds/fr")
_FR_TEXT = Path("/usr/share/doc/asterisk-core-sounds-fr")


@pytest.mark.skipif(bundled_weights() is None, reason="this build ships no learned model")
@pytest.mark.skipif(
    not (_FR.is_dir() and _FR_TEXT.is_dir()),
    reason="asterisk-core-sounds-fr(-g722) not installed: no real held-out speaker",
)
def test_the_bundled_model_beats_dsp_on_the_held_out_real_speaker(tmp_path: Path) -> None:
    """June (Asterisk fr) is a real speaker the model never heard; references come from the aligner."""
    from pyavatar.data.asterisk import import_asterisk

    assert import_asterisk(tmp_path / "set", ["fr"], limit=24, seed=3, progress=False)["kept"] >= 20
    pooled = _pooled_against_dsp(tmp_path / "set", tmp_path / "report.json")
    learned, dsp = pooled["learned"], pooled["dsp"]
    # the real-speaker vowel goal holds (0.52 here; 0.57 on the 40-prompt test set) and the lag goal
    assert learned["vowel_accuracy"] >= 0.45 and abs(learned["best_lag_ms"]) <= 40, pooled
    # better than DSP (0.57 vs 0.49 jaw r, 52 % vs 25 % vowels here); the 0.70 jaw goal is not met (LIPSYNC.md),
    # so this floor guards against regressions only
    assert learned["jaw_corr_speech"] >= 0.50 and learned["jaw_corr_speech"] > dsp["jaw_corr_speech"], pooled
    assert learned["vowel_accuracy"] > dsp["vowel_accuracy"] + 0.15, pooled
