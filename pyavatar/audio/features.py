"""Streaming speech features at 100 Hz: log-mel (80), MFCC (13), RMS, voicing and pitch.

Frame ``k`` describes the 10 ms interval ``[10 k, 10 k + 10)`` ms of 16 kHz
audio; its analysis window (512 samples, 32 ms, Hann) is centred on the
interval. So frame ``k`` can be computed once audio up to ``10 k + 21`` ms has
arrived: **algorithmic latency 16 ms after the frame centre (11 ms after its
end)**. Audio before the stream start counts as silence. The same
:class:`FeatureExtractor` runs on live chunks and whole files; chunking never
changes the result.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk

SAMPLE_RATE = 16_000
HOP = 160  # 10 ms
WIN = 512  # 32 ms
FRAME_RATE = SAMPLE_RATE / HOP
N_MELS = 80
N_MFCC = 13
F0_MIN, F0_MAX = 70.0, 400.0
_LEAD = WIN // 2 - HOP // 2  # window start of frame 0 is _LEAD samples before t=0
#: Audio needed past the centre of a 100 Hz frame before it can be computed, in seconds.
LOOKAHEAD_S = (WIN // 2) / SAMPLE_RATE
_SILENT_RMS = 10 ** (-70 / 20)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_edges(n_mels: int = N_MELS, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels + 2,) HTK-mel band edges in Hz from 0 Hz to Nyquist; band ``i`` peaks at ``edges[i + 1]``."""
    return 700.0 * (10 ** (np.linspace(0.0, _hz_to_mel(np.array(sr / 2)), n_mels + 2) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = WIN, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular HTK-mel filters from 0 Hz to Nyquist, area-normalised."""
    edges = mel_edges(n_mels, sr)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    fb *= 2.0 / (hi - lo)
    return fb.T


def dct_matrix(n_in: int = N_MELS, n_out: int = N_MFCC) -> np.ndarray:
    """(n_in, n_out) orthonormal DCT-II basis."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[:, 0] /= np.sqrt(2.0)
    return m


_WINDOW = np.hanning(WIN + 1)[:WIN]
_MEL = mel_filterbank()
_DCT = dct_matrix()
_TAU_MIN, _TAU_MAX = int(SAMPLE_RATE / F0_MAX), int(np.ceil(SAMPLE_RATE / F0_MIN))
_YIN_W = WIN - _TAU_MAX


def _pitch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN on (M, WIN) frames: (voicing 0..1, f0 Hz or 0)."""
    w, tmax = _YIN_W, _TAU_MAX
    x = frames - frames.mean(axis=1, keepdims=True)
    spec_full = np.fft.rfft(x, 2 * WIN)
    spec_head = np.fft.rfft(x[:, :w], 2 * WIN)
    r = np.fft.irfft(spec_full * np.conj(spec_head), 2 * WIN)[:, : tmax + 1]  # sum_j x[j] x[j+tau], j < w
    sq = np.cumsum(np.concatenate([np.zeros((len(x), 1)), x**2], axis=1), axis=1)
    energy_tau = sq[:, w : w + tmax + 1] - sq[:, : tmax + 1]  # sum_{j<w} x[j+tau]^2
    d = sq[:, w : w + 1] + energy_tau - 2.0 * r
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, tmax + 1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cum, 1e-12)
    seg = dn[:, _TAU_MIN : tmax + 1]
    below = seg < 0.2
    # first dip under the threshold, then walk to its local minimum; else the global minimum
    first = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
    tau = first.copy()
    for _ in range(12):
        step = (tau + 1 < seg.shape[1]) & (
            seg[np.arange(len(seg)), np.minimum(tau + 1, seg.shape[1] - 1)] < seg[np.arange(len(seg)), tau]
        )
        tau = tau + step
    rows = np.arange(len(seg))
    best = seg[rows, tau]
    left = seg[rows, np.maximum(tau - 1, 0)]
    right = seg[rows, np.minimum(tau + 1, seg.shape[1] - 1)]
    denom = left - 2 * best + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    period = tau + _TAU_MIN + np.clip(shift, -1, 1)
    voicing = np.clip(1.0 - best, 0.0, 1.0)
    voiced = best < 0.3
    return voicing, np.where(voiced, SAMPLE_RATE / period, 0.0)


def compute_frames(frames: np.ndarray) -> tuple[np.ndarray, ...]:
    """Features of (M, WIN) float64 analysis frames: log_mel, mfcc, rms, voicing, f0.

    Frames are analysed one at a time: vectorised numpy kernels round
    differently for different batch sizes, and a last-bit difference can flip a
    pitch decision, so batching would make results depend on chunking.
    """
    parts = [_analyse(frames[i : i + 1]) for i in range(len(frames))]
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(5))


def batch_log_mel(samples: np.ndarray) -> np.ndarray:
    """(T, 80) log-mel of a whole 16 kHz file on the frames of :class:`FeatureExtractor`, in one batch.

    For offline tools (the aligner): batched numpy may differ from the streaming
    path in the last bits, so live features never use it.
    """
    n = int(np.ceil(len(samples) / HOP))
    padded = np.concatenate([np.zeros(_LEAD), np.asarray(samples, dtype=np.float64), np.zeros(WIN + HOP)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, WIN)[::HOP][:n]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return np.log(np.maximum(power @ _MEL, 1e-10))


def _analyse(frames: np.ndarray) -> tuple[np.ndarray, ...]:
    xw = frames * _WINDOW
    power = np.abs(np.fft.rfft(xw, axis=1)) ** 2
    log_mel = np.log(np.maximum(power @ _MEL, 1e-10))
    mfcc = log_mel @ _DCT
    own = frames[:, _LEAD : _LEAD + HOP]  # the frame's own 10 ms: sharp speech/silence edges
    rms = np.sqrt((own**2).mean(axis=1))
    voicing, f0 = _pitch(frames)
    silent = rms < _SILENT_RMS
    voicing = np.where(silent, 0.0, voicing)
    f0 = np.where(silent, 0.0, f0)
    return log_mel, mfcc, rms, voicing, f0


def empty_features(pts_ns: int = 0, frame_rate: float = FRAME_RATE) -> FeatureChunk:
    """A zero-frame :class:`FeatureChunk`."""
    z = np.zeros(0, np.float32)
    return FeatureChunk(
        pts_ns, frame_rate, np.zeros((0, N_MELS), np.float32), np.zeros((0, N_MFCC), np.float32), z, z, z
    )


def concat_features(chunks: Iterable[FeatureChunk]) -> FeatureChunk:
    """Join consecutive chunks of one stream."""
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return empty_features()
    cat = {f: np.concatenate([getattr(c, f) for c in chunks]) for f in ("log_mel", "mfcc", "rms", "voicing", "f0")}
    return FeatureChunk(chunks[0].pts_ns, chunks[0].frame_rate, **cat)


class FeatureExtractor:
    """Streaming 100 Hz features of 16 kHz audio (see the module docstring for timing)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._buf = np.zeros(_LEAD, dtype=np.float64)
        self._buf_start = -_LEAD  # sample index of _buf[0]
        self._n_in = 0
        self._k = 0  # next frame index
        self._origin_ns: int | None = None

    def _emit(self, n_frames: int) -> FeatureChunk | None:
        if n_frames <= 0:
            return None
        first = self._k
        starts = np.arange(first, first + n_frames) * HOP - _LEAD - self._buf_start
        frames = self._buf[starts[:, None] + np.arange(WIN)[None, :]]
        log_mel, mfcc, rms, voicing, f0 = (a.astype(np.float32) for a in compute_frames(frames))
        self._k += n_frames
        drop = self._k * HOP - _LEAD - self._buf_start
        self._buf = self._buf[drop:]
        self._buf_start += drop
        assert self._origin_ns is not None
        pts = self._origin_ns + first * NS_PER_S // round(FRAME_RATE)
        return FeatureChunk(pts, FRAME_RATE, log_mel, mfcc, rms, voicing, f0)

    def process(self, chunk: AudioChunk) -> FeatureChunk | None:
        """Frames completed by ``chunk`` (16 kHz mono), or ``None``."""
        if chunk.sample_rate != SAMPLE_RATE:
            raise ValueError(f"FeatureExtractor needs {SAMPLE_RATE} Hz audio, got {chunk.sample_rate} Hz (resample)")
        if self._origin_ns is None:
            self._origin_ns = chunk.pts_ns
        self._buf = np.concatenate([self._buf, chunk.samples.astype(np.float64)])
        self._n_in += len(chunk.samples)
        ready = (self._n_in - (WIN - _LEAD)) // HOP + 1  # frames whose window lies inside the input
        return self._emit(ready - self._k)

    def flush(self) -> FeatureChunk | None:
        """Remaining frames up to the end of the audio (zeros after it); resets the extractor."""
        if self._origin_ns is None:
            return None
        total = -(-self._n_in // HOP)
        self._buf = np.concatenate([self._buf, np.zeros(WIN)])
        out = self._emit(total - self._k)
        self.reset()
        return out
