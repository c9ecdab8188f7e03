"""Audio chunks at any rate → speech features: resample to 16 kHz, 100 Hz features, optional video rate."""

from __future__ import annotations

from collections.abc import Iterable

from pyavatar.audio.align import FeatureAligner
from pyavatar.audio.features import FRAME_RATE, FeatureExtractor, concat_features, empty_features
from pyavatar.audio.resample import SPEECH_RATE, Resampler
from pyavatar.packets import AudioChunk, FeatureChunk


class SpeechAnalyzer:
    """Streaming processor: ``process(AudioChunk) -> FeatureChunk | None`` and ``flush()``.

    Args:
        sample_rate: rate of the incoming chunks.
        fps: re-time the 100 Hz features to this video rate; ``None`` keeps 100 Hz.
    """

    def __init__(self, sample_rate: int, fps: float | None = None) -> None:
        self._resampler = Resampler(sample_rate, SPEECH_RATE)
        self._features = FeatureExtractor()
        self._aligner = FeatureAligner(fps) if fps else None

    def _after(self, feats: FeatureChunk | None) -> FeatureChunk | None:
        if feats is None or self._aligner is None:
            return feats
        return self._aligner.process(feats)

    def process(self, chunk: AudioChunk) -> FeatureChunk | None:
        """Features completed by ``chunk``."""
        audio = self._resampler.process(chunk)
        return self._after(self._features.process(audio)) if audio is not None else None

    def flush(self) -> FeatureChunk | None:
        """Features of the stream's tail; resets the analyzer."""
        tail = self._resampler.flush()
        parts = [self._after(self._features.process(tail)) if tail is not None else None]
        parts.append(self._after(self._features.flush()))
        if self._aligner is not None:
            parts.append(self._aligner.flush())
        done = [p for p in parts if p is not None and len(p)]
        return concat_features(done) if done else None


def analyze(chunks: Iterable[AudioChunk], sample_rate: int, fps: float | None = None) -> FeatureChunk:
    """All features of a finite stream (the offline use of :class:`SpeechAnalyzer`)."""
    analyzer = SpeechAnalyzer(sample_rate, fps)
    parts = [analyzer.process(c) for c in chunks]
    parts.append(analyzer.flush())
    done = [p for p in parts if p is not None and len(p)]
    return concat_features(done) if done else empty_features(0, fps or FRAME_RATE)
