"""Resampler, 100 Hz features, video-rate alignment: accuracy, latency and streaming == offline."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.audio.align import FeatureAligner, FrameAligner
from pyavatar.audio.analyzer import SpeechAnalyzer, analyze
from pyavatar.audio.features import HOP, LOOKAHEAD_S, WIN, FeatureExtractor
from pyavatar.audio.resample import Resampler, resample_array
from pyavatar.audio.sources import ArraySource
from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk

FIELDS = ("log_mel", "mfcc", "rms", "voicing", "f0")


def _pulse_vowel(rate: int, seconds: float, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A crude voiced vowel: an impulse train through two resonators, with a little noise."""
    n = int(rate * seconds)
    x = np.zeros(n)
    x[(np.arange(0, seconds, 1 / f0) * rate).astype(int)] = 1.0
    for fc, bw in ((700.0, 110.0), (1200.0, 120.0)):
        r = np.exp(-np.pi * bw / rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * fc / rate), r * r
        y = np.zeros(n)
        for i in range(n):
            y[i] = x[i] - a1 * y[i - 1] - a2 * y[i - 2]
        x = y
    x = 0.3 * x / np.abs(x).max() + 0.001 * np.random.default_rng(seed).standard_normal(n)
    return x.astype(np.float32)


def _chunked(samples: np.ndarray, rate: int, seed: int) -> list[AudioChunk]:
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(samples):
        step = int(rng.integers(1, 1500))
        out.append(AudioChunk(round(i * NS_PER_S / rate), rate, samples[i : i + step]))
        i += step
    return out


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_resampler_accuracy_and_length(rate: int) -> None:
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = resample_array(x, rate)
    assert len(y) == 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(y - ref)[100:-100].max() < 1e-3


def test_resampler_rejects_aliasing_tone() -> None:
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)  # above the 8 kHz output Nyquist
    assert np.abs(resample_array(x, 48000))[200:-200].max() < 0.01


def test_resampler_chunking_invariant_and_bounded() -> None:
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 44100).astype(np.float32)
    whole = resample_array(x, 44100)
    r = Resampler(44100)
    parts, longest = [], 0
    for c in _chunked(x, 44100, seed=2):
        out = r.process(c)
        longest = max(longest, len(r._buf))
        if out is not None:
            assert out.pts_ns == round(len(np.concatenate(parts or [np.zeros(0)])) * NS_PER_S / 16000)
            parts.append(out.samples)
    parts.append(r.flush().samples)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert longest < 1500 + 2 * r._k + 2  # state is the taps plus at most one chunk
    assert r.latency_s < 0.002


def test_features_streaming_equals_offline_exactly() -> None:
    rate = 44100
    x = np.concatenate([np.zeros(4410, np.float32), _pulse_vowel(rate, 0.6), np.zeros(2000, np.float32)])
    offline = analyze(ArraySource(x, rate, chunk_ms=1000), rate, fps=25)
    analyzer = SpeechAnalyzer(rate, fps=25)
    parts = [analyzer.process(c) for c in _chunked(x, rate, seed=3)] + [analyzer.flush()]
    parts = [p for p in parts if p is not None]
    assert parts[0].pts_ns == 0 and parts[0].frame_rate == 25
    for f in FIELDS:
        np.testing.assert_array_equal(np.concatenate([getattr(p, f) for p in parts]), getattr(offline, f), f)
    assert len(offline) == int(np.ceil(len(x) / rate * 25))


def test_feature_shapes_pitch_and_voicing() -> None:
    x = _pulse_vowel(16000, 0.5, f0=150.0)
    fe = FeatureExtractor()
    feats = fe.process(AudioChunk(0, 16000, x))
    assert feats.log_mel.shape == (len(feats), 80) and feats.mfcc.shape == (len(feats), 13)
    mid = slice(5, len(feats) - 5)
    assert np.median(np.abs(feats.f0[mid] - 150.0)) < 2.0
    assert feats.voicing[mid].mean() > 0.8
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, 8000).astype(np.float32)
    nf = FeatureExtractor().process(AudioChunk(0, 16000, noise))
    assert nf.voicing[3:-3].mean() < 0.5 and (nf.f0[3:-3] == 0).mean() > 0.8


def test_silence_is_finite_and_quiet() -> None:
    fe = FeatureExtractor()
    out = [fe.process(AudioChunk(0, 16000, np.zeros(3200, np.float32))), fe.flush()]
    feats = [o for o in out if o is not None]
    for f in FIELDS:
        assert all(np.isfinite(getattr(c, f)).all() for c in feats)
    assert sum(len(c) for c in feats) == 20
    assert all((c.rms == 0).all() and (c.voicing == 0).all() for c in feats)


def test_feature_latency_is_half_a_window() -> None:
    fe = FeatureExtractor()
    k = 7  # frame 7 covers [70, 80) ms; its window ends 16 ms after its centre (75 ms)
    need = HOP * k + HOP // 2 + WIN // 2
    got = fe.process(AudioChunk(0, 16000, np.zeros(need - 1, np.float32)))
    assert len(got) == k
    got = fe.process(AudioChunk(0, 16000, np.zeros(1, np.float32)))
    assert len(got) == 1
    assert LOOKAHEAD_S == pytest.approx(0.016)


def test_frame_aligner_exact_and_fractional_rates() -> None:
    rows = np.arange(21, dtype=np.float64)[:, None]
    out25 = FrameAligner(25).process(rows)
    np.testing.assert_allclose(out25[:, 0], [1.5, 5.5, 9.5, 13.5, 17.5])  # frame 20 is pending
    al = FrameAligner(30)
    out30 = np.concatenate([al.process(rows[:7]), al.process(rows[7:]), al.flush()])
    # frame 0 covers [0, 33.3) ms: frames 0, 1, 2 fully and a third of frame 3
    assert out30[0, 0] == pytest.approx((0 + 1 + 2 + 3 / 3) / (3 + 1 / 3))
    assert len(out30) == 7  # 210 ms at 30 fps, the last one partial
    assert out30[-1, 0] == 20.0
    with pytest.raises(ValueError, match="fps"):
        FrameAligner(0)


def test_feature_aligner_rms_is_power_mean() -> None:
    n = 4
    chunk = FeatureChunk(
        5 * NS_PER_S,
        100.0,
        np.zeros((n, 80), np.float32),
        np.zeros((n, 13), np.float32),
        np.array([0, 0, 0, 2], np.float32),
        np.array([1, 1, 0, 0], np.float32),
        np.array([100, 200, 0, 0], np.float32),
    )
    out = FeatureAligner(25).process(chunk)
    assert out.pts_ns == 5 * NS_PER_S
    assert out.rms[0] == pytest.approx(1.0)
    assert out.f0[0] == pytest.approx(150.0) and out.voicing[0] == pytest.approx(0.5)
