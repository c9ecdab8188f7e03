"""Real capture: speech played into a PulseAudio virtual microphone drives the lip engine live."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pyavatar.audio.analyzer import SpeechAnalyzer, analyze
from pyavatar.audio.mic import MicSource
from pyavatar.audio.sources import AudioDeviceError, FileSource
from pyavatar.motion.lips.engine import DspLipEngine

FPS = 50  # a fine frame grid: live and file frames can be up to half a frame out of phase


def _jaw_offline(wav: Path) -> np.ndarray:
    src = FileSource(wav)
    feats = analyze(src, src.sample_rate)
    eng = DspLipEngine(fps=FPS)
    return np.concatenate([c.jaw_open for c in (eng.process(feats), eng.flush()) if c is not None])


def _best_aligned_corr(live: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """Correlation of ``ref`` with the part of ``live`` it lines up best with (live starts earlier)."""
    best = (-1.0, 0)
    for off in range(0, len(live) - len(ref) + 1):
        seg = live[off : off + len(ref)]
        if seg.std() > 0:
            best = max(best, (float(np.corrcoef(seg, ref)[0, 1]), off))
    return best


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    from pyavatar.evaluation.espeak import Espeak

    utt = Espeak().synthesize("Hello there, this is a quick test of the microphone and the lips.", "en-us")
    path = tmp_path_factory.mktemp("mic") / "speech.wav"
    pad = np.zeros(utt.sample_rate // 4, np.float32)
    sf.write(path, np.concatenate([pad, utt.samples * 0.8, pad]), utt.sample_rate)
    return path


def test_live_capture_follows_offline_lips(virtual_mic, speech_wav: Path) -> None:
    import soundfile as sf

    duration = sf.info(str(speech_wav)).duration
    src = MicSource("pulse", sample_rate=48000, channels=2, channel=None, stall_timeout=3.0)
    assert src.device.name == "pulse"
    analyzer = SpeechAnalyzer(src.sample_rate)
    engine = DspLipEngine(fps=FPS)
    jaw: list[np.ndarray] = []
    player: list = []
    timer = threading.Timer(1.0, lambda: player.append(virtual_mic.play(speech_wav)))
    started = False
    try:
        for chunk in src:
            if not started:  # the first block is in (after PulseAudio's warm-up): play a second later
                timer.start()
                started = True
            feats = analyzer.process(chunk)
            lips = engine.process(feats) if feats is not None else None
            if lips is not None:
                jaw.append(lips.jaw_open)
            if src.stats.samples >= (duration + 3.0) * src.sample_rate:
                break
    finally:
        timer.cancel()
        src.close()
        for p in player:
            p.wait(timeout=10)
    live = np.concatenate(jaw)
    ref = _jaw_offline(speech_wav)
    corr, offset = _best_aligned_corr(live, ref)
    assert corr >= 0.9, f"live jaw vs offline: r={corr:.3f} at offset {offset}"
    assert offset >= FPS // 2  # the speech started a second into the capture ...
    assert live[: offset - 5].max() < 0.15  # ... and the mouth stayed closed before it


def test_unplugged_microphone_ends_stream_with_error(virtual_mic) -> None:  # keep last: it stops the server
    src = MicSource("pulse", sample_rate=16000, channels=1, stall_timeout=1.5)
    got = 0
    t0 = time.monotonic()
    with pytest.raises(AudioDeviceError, match="pulse"):
        for _ in src:
            got += 1
            if got == 50:
                virtual_mic.unplug()
            assert time.monotonic() - t0 < 15, "stream kept running after the device vanished"
    src.close()
    assert got >= 50
