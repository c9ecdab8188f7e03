"""Streaming rational resampler (Kaiser-windowed sinc, polyphase) with bounded state.

Output sample ``m`` is the band-limited value at input position
``m * in_rate / out_rate``, so timestamps carry over unchanged (zero phase);
the price is ``taps / 2`` input samples of look-ahead (about 1 ms). Chunking
does not change the result: every output sample is computed the same way
whatever the chunk boundaries.
"""

from __future__ import annotations

from math import ceil, gcd

import numpy as np

from pyavatar.packets import NS_PER_S, AudioChunk

#: Target rate of every speech feature in pyavatar.
SPEECH_RATE = 16_000


def _filter_bank(up: int, down: int, zeros: int, beta: float) -> tuple[np.ndarray, int]:
    """(up, 2K) float64 taps per output phase and K, the one-sided length in input samples."""
    fc = min(1.0, up / down) * 0.94  # cutoff as a fraction of the input Nyquist rate
    half = zeros / fc
    k = int(ceil(half))
    t = np.arange(up)[:, None] / up + (k - 1 - np.arange(2 * k))[None, :]
    inside = np.abs(t) < half
    win = np.where(inside, np.i0(beta * np.sqrt(np.clip(1 - (t / half) ** 2, 0, 1))) / np.i0(beta), 0.0)
    h = fc * np.sinc(fc * t) * win
    return h / h.sum(axis=1, keepdims=True), k


class Resampler:
    """Convert :class:`AudioChunk` s from ``in_rate`` to ``out_rate`` as they arrive.

    Args:
        in_rate: rate of the incoming chunks (checked on every chunk).
        out_rate: rate of the produced chunks.
        zeros: sinc zero crossings per side (quality vs. look-ahead).
    """

    def __init__(self, in_rate: int, out_rate: int = SPEECH_RATE, *, zeros: int = 16, beta: float = 8.0) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"rates must be positive, got in_rate={in_rate}, out_rate={out_rate}")
        g = gcd(in_rate, out_rate)
        self.in_rate, self.out_rate = in_rate, out_rate
        self.up, self.down = out_rate // g, in_rate // g
        if self.up > 20_000:
            raise ValueError(f"in_rate={in_rate} -> out_rate={out_rate} needs {self.up} filter phases; too many")
        self._bank, self._k = (None, 0) if self.up == self.down else _filter_bank(self.up, self.down, zeros, beta)
        self.reset()

    @property
    def latency_s(self) -> float:
        """Input audio needed beyond an output sample's time, in seconds."""
        return self._k / self.in_rate

    def reset(self) -> None:
        """Forget the stream (the next chunk starts a new time origin)."""
        self._buf = np.zeros(self._k, dtype=np.float64)
        self._offset = -self._k  # absolute input index of _buf[0]; samples before 0 are zeros
        self._n_in = 0
        self._m = 0  # next output index
        self._origin_ns: int | None = None

    def _produce(self, last: int) -> np.ndarray:
        """Outputs whose taps end at or before absolute input index ``last``."""
        # largest m with (m * down) // up + k <= last
        m_end = ((last - self._k + 1) * self.up + self.down - 1) // self.down if last - self._k + 1 > 0 else 0
        m = np.arange(self._m, max(self._m, m_end), dtype=np.int64)
        if not len(m):
            return np.zeros(0, dtype=np.float32)
        pos = m * self.down
        base, phase = pos // self.up, pos % self.up
        idx = (base - self._offset + 1 - self._k)[:, None] + np.arange(2 * self._k)[None, :]
        out = (self._buf[idx] * self._bank[phase]).sum(axis=1)
        self._m = int(m[-1]) + 1
        keep = (self._m * self.down) // self.up + 1 - self._k
        self._buf = self._buf[keep - self._offset :]
        self._offset = keep
        return out.astype(np.float32)

    def _stamp(self, samples: np.ndarray, first: int) -> AudioChunk:
        assert self._origin_ns is not None
        return AudioChunk(self._origin_ns + first * NS_PER_S // self.out_rate, self.out_rate, samples)

    def process(self, chunk: AudioChunk) -> AudioChunk | None:
        """Resampled audio available so far (``None`` while the look-ahead fills)."""
        if chunk.sample_rate != self.in_rate:
            raise ValueError(f"Resampler expects {self.in_rate} Hz chunks, got {chunk.sample_rate} Hz")
        if self._origin_ns is None:
            self._origin_ns = chunk.pts_ns
        if self._bank is None:
            self._n_in += len(chunk.samples)
            return chunk
        first = self._m
        self._buf = np.concatenate([self._buf, chunk.samples.astype(np.float64)])
        self._n_in += len(chunk.samples)
        out = self._produce(self._n_in - 1)
        return self._stamp(out, first) if len(out) else None

    def flush(self) -> AudioChunk | None:
        """The tail of the stream (zeros after the last sample); resets the resampler."""
        if self._bank is None or self._origin_ns is None:
            self.reset()
            return None
        first, total = self._m, -(-self._n_in * self.up // self.down)
        self._buf = np.concatenate([self._buf, np.zeros(2 * self._k + 1)])
        out = self._produce(self._n_in - 1 + 2 * self._k)[: total - first]
        chunk = self._stamp(out, first) if len(out) else None
        self.reset()
        return chunk


def resample_array(samples: np.ndarray, in_rate: int, out_rate: int = SPEECH_RATE) -> np.ndarray:
    """Resample a whole mono array (the offline form of :class:`Resampler`)."""
    r = Resampler(in_rate, out_rate)
    parts = [r.process(AudioChunk(0, in_rate, np.asarray(samples, dtype=np.float32))), r.flush()]
    return np.concatenate([np.zeros(0, np.float32)] + [p.samples for p in parts if p is not None])
