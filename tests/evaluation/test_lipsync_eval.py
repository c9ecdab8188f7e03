"""Evaluation harness: phoneme table, references, metrics, espeak timings, synthetic set, CLI report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.evaluation.dataset import load_dataset, parse_reference, reference_from_phones
from pyavatar.evaluation.metrics import Prediction, count, lag_curve, pearson, summarize
from pyavatar.evaluation.phonemes import expand, is_stop


@pytest.fixture(scope="session")
def small_set(espeak, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from pyavatar.evaluation.synthetic import build_synthetic

    out = tmp_path_factory.mktemp("lipset")
    summary = build_synthetic(out, ["en-us+m3", "de+f4", "es+m1"], 6, seed=3, noisy_fraction=1 / 3)
    return out, summary


def test_phoneme_table() -> None:
    assert expand("ɑː") == [("aa", 0.85, 1.0)]
    assert [p[0] for p in expand("aɪ")] == ["aa", "ih"]
    assert expand("ɛ̃")[0][0] == "ee" and expand("yː")[0][0] == "ou"
    assert expand("m") == [("cons", 0.0, 1.0)] and expand("") == [("sil", 0.0, 1.0)]
    assert is_stop("tʃ") and not is_stop("s")
    with pytest.raises(KeyError, match="not in the viseme table"):
        expand("ʘ")


def test_espeak_phone_events_cover_the_languages(espeak) -> None:
    from pyavatar.evaluation.synthetic import CORPUS

    for voice, lang in (("en-us", "en"), ("de", "de"), ("es", "es"), ("fr", "fr")):
        utt = espeak.synthesize(CORPUS[lang][0], voice)
        assert utt.sample_rate == 22050 and len(utt.samples) > utt.sample_rate
        starts = [p.start for p in utt.phones]
        assert starts == sorted(starts) and utt.phones[-1].end <= len(utt.samples) / utt.sample_rate + 1e-9
        for p in utt.phones:
            expand(p.name)  # every phoneme is in the table


def test_reference_frames_follow_timings() -> None:
    ref = reference_from_phones([("m", 0.10, 0.16), ("ɑː", 0.16, 0.40), ("s", 0.40, 0.45)], 0.6)
    assert len(ref) == 15  # frame i covers [40 i, 40 i + 40) ms
    assert ref.visemes[:2] == ["sil", "sil"] and ref.visemes[5:9] == ["aa"] * 4 and ref.visemes[-2:] == ["sil"] * 2
    assert ref.speaking.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert ref.jaw_open[6] == pytest.approx(0.85, abs=0.01) and ref.jaw_open[0] == 0.0
    with pytest.raises(ValueError, match="unknown viseme labels"):
        parse_reference({"jaw_open": [0.1], "visemes": ["xx"], "speaking": [1]}, "a.json")
    with pytest.raises(ValueError, match="missing key 'speaking'"):
        parse_reference({"jaw_open": [0.1], "visemes": ["aa"]}, "a.json")


def test_metrics_and_lag_search() -> None:
    rng = np.random.default_rng(0)
    base = np.convolve(rng.random(400), np.ones(5) / 5, mode="same")
    late = np.concatenate([np.zeros(2), base[:-2]])  # two frames = 80 ms late
    lags, corr = lag_curve(late, base)
    assert lags[np.argmax(corr)] == 80
    assert pearson(base, base) == pytest.approx(1.0) and pearson(base, np.ones(400)) == 0.0
    ref = reference_from_phones([("a", 0.0, 0.2), ("i", 0.2, 0.4)], 0.8)
    vis = np.zeros((len(ref), 5))
    vis[:5, 0] = 1
    vis[5:10, 2] = 1  # 'ou' where 'ih' was said
    jaw = ref.jaw_open.copy()
    jaw[-3:] = 0.5  # open during silence
    m = summarize([count(Prediction(jaw, vis), ref)])
    assert m["vowel_accuracy"] == pytest.approx(0.5)
    assert m["silence_open_rate"] == pytest.approx(3 / 10)
    assert m["frames"] == 20 and m["vowel_frames"] == 10 and m["silence_frames"] == 10


def test_synthetic_set_format_and_boundary_check(small_set: tuple[Path, dict]) -> None:
    folder, summary = small_set
    items = load_dataset(folder)
    assert len(items) == 6 and summary["noisy"] == 2
    assert summary["boundaries"]["checked"] > 10
    assert 5 <= summary["boundaries"]["mean_abs_shift_ms"] <= 60
    langs = {it.reference.meta["language"] for it in items}
    assert langs == {"en", "de", "es"}
    for it in items:
        import soundfile as sf

        info = sf.info(str(it.wav))
        assert len(it.reference) == int(np.ceil(round(info.duration * 25, 6)))
        assert it.reference.visemes[0] == "sil" and it.reference.visemes[-1] == "sil"
        assert it.reference.speaking.sum() > 10


def test_closure_boundaries_match_the_audio(espeak) -> None:
    from pyavatar.evaluation.synthetic import BoundaryStats, _energy_db, refine_boundaries

    utt = espeak.synthesize("The cat sat on the mat.", "en-us")
    stats = BoundaryStats()
    refined = refine_boundaries(utt.phones, utt.samples, utt.sample_rate, stats)
    e = _energy_db(utt.samples, utt.sample_rate)
    for a, b in zip(refined, refined[1:]):
        if b.name == "t" and a.name == "æ":  # the vowel must end where the silent closure begins
            i = int(a.end / 0.0025)
            assert e[i + 3 : i + 8].max() < e[i - 6 : i - 2].min() - 10
    assert stats.moved >= 2


def test_eval_cli_report_with_baseline(small_set: tuple[Path, dict], tmp_path: Path) -> None:
    folder, _ = small_set
    out = tmp_path / "report.json"
    assert main(["eval", "lipsync", str(folder), "--engine", "dsp", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["files"] == 6 and len(rep["per_file"]) == 6
    pooled = rep["pooled"]
    for who in ("dsp", "baseline"):
        for k in ("jaw_corr_speech", "jaw_corr_all", "vowel_accuracy", "silence_open_rate", "best_lag_ms"):
            assert k in pooled[who]
        assert abs(pooled[who]["best_lag_ms"]) <= 200
    assert pooled["dsp"]["vowel_accuracy"] > pooled["baseline"]["vowel_accuracy"]
    assert pooled["dsp"]["silence_open_rate"] < pooled["baseline"]["silence_open_rate"]
    assert set(rep["goals"]["met"]) == {"jaw_corr_speech", "vowel_accuracy", "silence_open_rate", "best_lag_ms"}


def test_make_synthetic_cli(espeak, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "make-synthetic", str(tmp_path), "--voices", "es+f2", "--n", "1", "--noisy", "1"]) == 0
    (item,) = load_dataset(tmp_path)
    assert item.reference.meta["noise"] in ("white", "pink") and item.reference.meta["voice"] == "es+f2"
    assert main(["eval", "make-synthetic", str(tmp_path), "--voices", "xx", "--n", "1"]) != 0
    assert "voice 'xx': no corpus for language 'xx'" in capsys.readouterr().err
