"""``pyavatar data noise``: speech-free clips labelled silence, usable as training data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pyavatar.cli import main
from pyavatar.data.noise import GROUP, KINDS, LEVEL_DBFS, RATE, noise
from pyavatar.evaluation.dataset import load_dataset
from pyavatar.training.data import load_clips


def test_noise_clips_are_speech_free_silence_at_the_drawn_levels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "noise"
    assert main(["data", "noise", str(out), "--n", "6", "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["written"] == 6 and summary["clips"] == 6
    items = load_dataset(out)
    assert len(items) == 6
    for it in items:
        assert it.speaker == GROUP and it.family == GROUP
        ref = it.reference
        assert not np.any(ref.speaking) and not np.any(ref.jaw_open) and set(ref.visemes) == {"sil"}
        x, sr = sf.read(it.wav)
        assert sr == RATE and 4.0 <= len(x) / sr <= 12.0 and len(ref.jaw_open) == int(np.ceil(len(x) / sr * 25))
        rms_db = 20 * np.log10(np.sqrt(np.mean(x**2)))
        parts = ref.meta["noise"]
        assert 1 <= len(parts) <= 2 and all(p["kind"] in KINDS for p in parts)
        assert all(LEVEL_DBFS[0] <= p["level_dbfs"] <= LEVEL_DBFS[1] for p in parts)
        loudest = max(p["level_dbfs"] for p in parts)
        assert loudest - 7 <= rms_db <= loudest + 10  # the louder part, its slow modulation, the other part
    # the trainer reads them as all-silence targets
    clips = load_clips([out], progress=False)
    assert all(not c.y[:, 0].any() and not c.y[:, 4].any() for c in clips)
    # the same seed again would overwrite: refused, naming the clip; another seed adds to the folder
    assert main(["data", "noise", str(out), "--n", "2", "--seed", "3"]) == 1
    assert "noise_s3_0000 exists already" in capsys.readouterr().err
    assert main(["data", "noise", str(out), "--n", "2", "--seed", "4"]) == 0
    assert len(load_dataset(out)) == 8


def _band_share(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())


def test_noise_kinds_have_their_spectra() -> None:
    rng = np.random.default_rng(0)
    n = RATE * 4
    for kind in KINDS:
        x, info = noise(kind, n, rng)
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-6)
        if kind == "white":
            assert _band_share(x, 4000, 8000) == pytest.approx(0.5, abs=0.03)
        elif kind in ("pink", "brown"):
            assert _band_share(x, 0, 1000) > (0.5 if kind == "pink" else 0.95)
        elif kind == "lowpass":
            assert _band_share(x, 0, 2 * info["cutoff_hz"]) > 0.97
        else:
            lo, hi = info["band_hz"]
            assert _band_share(x, lo / 1.5, hi * 1.5) > 0.9
    with pytest.raises(ValueError, match="unknown noise kind 'hum'"):
        noise("hum", n, rng)
