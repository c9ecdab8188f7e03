"""DSP lip engine and vowel profiles: gate, smoothing, streaming, latency, calibration round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.sources import ArraySource, FileSource
from pyavatar.cli import main
from pyavatar.motion.lips.engine import DspLipEngine, LipSettings
from pyavatar.motion.lips.profile import VowelProfile, calibrate, load_profile
from pyavatar.packets import OVR_VISEMES, VRM_VISEMES, FeatureChunk, LipChunk


def _run(engine: DspLipEngine, feats: FeatureChunk) -> LipChunk:
    parts = [p for p in (engine.process(feats), engine.flush()) if p is not None]
    cat = {
        f: np.concatenate([getattr(p, f) for p in parts])
        for f in ("visemes", "jaw_open", "mouth_wide", "mouth_round", "speaking")
    }
    ovr = np.concatenate([p.ovr for p in parts]) if parts[0].ovr is not None else None
    return LipChunk(parts[0].pts_ns, parts[0].frame_rate, ovr=ovr, **cat)


@pytest.fixture(scope="module")
def speech(espeak) -> tuple[np.ndarray, int]:
    utt = espeak.synthesize("Hello, how are you doing today? I am fine, thanks.", "en-us+m3")
    pad = np.zeros(utt.sample_rate // 2, np.float32)
    return np.concatenate([pad, utt.samples * 0.7, pad]), utt.sample_rate


def _feats(x: np.ndarray, sr: int) -> FeatureChunk:
    return analyze(ArraySource(x, sr), sr)


def test_default_profile_ships_with_the_package() -> None:
    prof = load_profile()
    assert set(prof.templates) == set(VRM_VISEMES)
    assert prof.meta["source"] == "generic"
    assert prof.metric.shape == (12, 12)


def test_silence_and_steady_noise_keep_the_mouth_closed() -> None:
    rng = np.random.default_rng(0)
    for x in (np.zeros(32000, np.float32), (0.03 * rng.standard_normal(48000)).astype(np.float32)):
        lips = _run(DspLipEngine(), _feats(x, 16000))
        assert lips.jaw_open.max() < 0.05 and lips.speaking.max() < 0.1
        assert lips.visemes.max() < 0.05


def test_speech_opens_mouth_between_closed_pauses(speech) -> None:
    x, sr = speech
    lips = _run(DspLipEngine(fps=25), _feats(x, sr))
    assert len(lips) == int(np.ceil(len(x) / sr * 25))
    edge = 10  # 0.4 s of the 0.5 s padding at each end
    assert lips.jaw_open[:edge].max() < 0.05 and lips.jaw_open[-edge:].max() < 0.05
    assert lips.jaw_open[edge:-edge].max() > 0.5 and lips.speaking[edge:-edge].mean() > 0.5
    for f in ("visemes", "jaw_open", "mouth_wide", "mouth_round", "speaking"):
        v = getattr(lips, f)
        assert v.min() >= 0 and v.max() <= 1, f


def test_streaming_equals_offline(speech) -> None:
    x, sr = speech
    feats = _feats(x, sr)
    whole = _run(DspLipEngine(fps=30), feats)
    eng = DspLipEngine(fps=30)
    parts = []
    for a in range(0, len(feats), 7):
        chunk = FeatureChunk(
            feats.pts_ns + a * 10_000_000,
            100.0,
            feats.log_mel[a : a + 7],
            feats.mfcc[a : a + 7],
            feats.rms[a : a + 7],
            feats.voicing[a : a + 7],
            feats.f0[a : a + 7],
        )
        out = eng.process(chunk)
        if out is not None:
            parts.append(out)
    parts.append(eng.flush())
    np.testing.assert_array_equal(np.concatenate([p.jaw_open for p in parts]), whole.jaw_open)
    np.testing.assert_array_equal(np.concatenate([p.visemes for p in parts]), whole.visemes)


@pytest.mark.parametrize("fps", [25, 30, 50, 60])
def test_latency_budget_and_frame_count(fps: int) -> None:
    eng = DspLipEngine(fps=fps)
    assert eng.latency_s + eng.settings.attack <= 0.060
    lips = _run(eng, _feats(np.zeros(16000, np.float32), 16000))
    assert len(lips) == fps and lips.frame_rate == fps


def test_response_lag_to_a_tone_burst() -> None:
    sr = 16000
    t = np.arange(sr) / sr
    x = np.where((t >= 0.4) & (t < 0.7), 0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 900 * t)), 0)
    lips = _run(DspLipEngine(fps=100), _feats(x.astype(np.float32), sr))
    onset = int(np.argmax(lips.jaw_open > 0.5 * lips.jaw_open.max()))
    assert 40 <= onset <= 42  # opens within 20 ms of the 400 ms onset


def test_mute_sensitivity_and_ovr(speech) -> None:
    x, sr = speech
    feats = _feats(x, sr)
    muted = DspLipEngine()
    muted.muted = True
    assert _run(muted, feats).jaw_open.max() == 0.0
    quiet = _feats(x * 0.003, sr)  # about -50 dB: only a sensitive gate opens
    low = _run(DspLipEngine(settings=LipSettings(sensitivity=0.0)), quiet).speaking.mean()
    high = _run(DspLipEngine(settings=LipSettings(sensitivity=1.0)), quiet).speaking.mean()
    assert high > low + 0.1
    ovr = _run(DspLipEngine(ovr=True), feats).ovr
    assert ovr.shape[1] == len(OVR_VISEMES)
    assert ovr[:5, OVR_VISEMES.index("sil")].min() > 0.95
    with pytest.raises(ValueError, match="sensitivity"):
        LipSettings(sensitivity=2)


def _vowel_file(espeak, tmp: Path, word: str) -> Path:
    import soundfile as sf

    utt = espeak.synthesize(f"{word}, {word}, {word}.", "en-us", wpm=80)
    path = tmp / f"{word}.wav"
    sf.write(path, utt.samples, utt.sample_rate)
    return path


def test_calibration_round_trip(espeak, tmp_path: Path) -> None:
    words = {"aa": "ah", "ih": "ee", "ou": "oo", "ee": "eh", "oh": "oh"}
    files = {v: _vowel_file(espeak, tmp_path, w) for v, w in words.items()}
    out = tmp_path / "me.json"
    assert main(["calibrate", "--files", *[f"{v}={p}" for v, p in files.items()], "--out", str(out)]) == 0
    loaded = load_profile(out)
    direct = calibrate({v: analyze(FileSource(p), FileSource(p).sample_rate) for v, p in files.items()})
    for v in VRM_VISEMES:
        np.testing.assert_allclose(loaded.templates[v], direct.templates[v], atol=1e-4)
    np.testing.assert_allclose(loaded.metric, load_profile().metric, atol=1e-5)
    # the calibrated profile recognises each recording's vowel
    for v, p in files.items():
        lips = _run(DspLipEngine(loaded), analyze(FileSource(p), FileSource(p).sample_rate))
        open_frames = lips.jaw_open > 0.2
        votes = np.bincount(lips.visemes[open_frames].argmax(axis=1), minlength=5)
        assert VRM_VISEMES[int(votes.argmax())] == v, (v, votes)


def test_profile_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'oh'"):
        VowelProfile({v: np.zeros((1, 12)) for v in VRM_VISEMES[:4]})
    with pytest.raises(ValueError, match=r"templates\['aa'\]"):
        VowelProfile({v: np.zeros((1, 11 if v == "aa" else 12)) for v in VRM_VISEMES})
    bad = tmp_path / "p.json"
    bad.write_text('{"version": 99}')
    with pytest.raises(ValueError, match="version 99"):
        load_profile(bad)
    assert main(["calibrate", "--files", "aa=x.wav", "--out", str(tmp_path / "o.json")]) == 2
