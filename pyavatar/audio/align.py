"""Re-time 100 Hz frames to video frames.

Video frame ``i`` at ``fps`` covers ``[i / fps, (i + 1) / fps)`` from the
stream origin; its value is the overlap-weighted mean of the 10 ms frames it
covers. A video frame is complete once the 10 ms frame holding its end has
arrived, so re-timing adds no look-ahead beyond the frame's own duration.
"""

from __future__ import annotations

import numpy as np

from pyavatar.packets import NS_PER_S, FeatureChunk

SOURCE_RATE = 100
_P = NS_PER_S // SOURCE_RATE


class FrameAligner:
    """Streaming overlap-weighted averaging of (T, D) rows at 100 Hz to ``fps``."""

    def __init__(self, fps: float) -> None:
        if not 1.0 <= fps <= SOURCE_RATE:
            raise ValueError(f"fps must be within 1..{SOURCE_RATE}, got {fps}")
        self.fps = float(fps)
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._k = 0  # next source frame
        self._i = 0  # next video frame
        self._acc: np.ndarray | None = None
        self._w = 0.0
        self._width = 0

    def _bounds(self, i: int) -> tuple[int, int]:
        return round(i * NS_PER_S / self.fps), round((i + 1) * NS_PER_S / self.fps)

    @property
    def next_frame(self) -> int:
        """Index of the next video frame to be produced."""
        return self._i

    def process(self, rows: np.ndarray) -> np.ndarray:
        """Video frames (M, D) completed by the next ``len(rows)`` source frames (float64)."""
        rows = np.asarray(rows, dtype=np.float64)
        self._width = rows.shape[1]
        out: list[np.ndarray] = []
        for row in rows:
            s0, s1 = self._k * _P, (self._k + 1) * _P
            self._k += 1
            while True:
                v0, v1 = self._bounds(self._i)
                w = min(s1, v1) - max(s0, v0)
                if w > 0:
                    self._acc = row * w if self._acc is None else self._acc + row * w
                    self._w += w
                if v1 > s1:
                    break
                out.append(self._acc / self._w)
                self._acc, self._w = None, 0.0
                self._i += 1
        return np.stack(out) if out else np.zeros((0, self._width))

    def flush(self) -> np.ndarray:
        """The last, partly covered video frame (if any); resets the aligner."""
        out = np.zeros((0, self._width)) if self._acc is None else (self._acc / self._w)[None, :]
        self.reset()
        return out


class FeatureAligner:
    """:class:`FeatureChunk` s at 100 Hz → :class:`FeatureChunk` s at ``fps`` aligned to video frames.

    Log-mel and MFCC are averaged, RMS is the root of the mean power, voicing is
    averaged and f0 is the mean over voiced 10 ms frames (0 if none).
    """

    def __init__(self, fps: float) -> None:
        self._align = FrameAligner(fps)
        self.fps = self._align.fps
        self._origin: int | None = None

    def _pack(self, c: FeatureChunk) -> np.ndarray:
        voiced = (c.f0 > 0).astype(np.float64)
        cols = [
            c.log_mel,
            c.mfcc,
            (c.rms.astype(np.float64) ** 2)[:, None],
            c.voicing[:, None],
            (c.f0 * voiced)[:, None],
            voiced[:, None],
        ]
        return np.concatenate(cols, axis=1)

    def _unpack(self, a: np.ndarray, first: int, n_mels: int, n_mfcc: int) -> FeatureChunk | None:
        if not len(a):
            return None
        assert self._origin is not None
        j = n_mels + n_mfcc
        voiced = a[:, j + 3]
        f0 = np.where(voiced > 0, a[:, j + 2] / np.maximum(voiced, 1e-12), 0.0)
        f32 = np.float32
        return FeatureChunk(
            self._origin + round(first * NS_PER_S / self.fps),
            self.fps,
            a[:, :n_mels].astype(f32),
            a[:, n_mels:j].astype(f32),
            np.sqrt(a[:, j]).astype(f32),
            a[:, j + 1].astype(f32),
            f0.astype(f32),
        )

    def process(self, chunk: FeatureChunk) -> FeatureChunk | None:
        """Video-rate frames completed by ``chunk``."""
        if self._origin is None:
            self._origin = chunk.pts_ns
        self._shape = (chunk.log_mel.shape[1], chunk.mfcc.shape[1])
        first = self._align.next_frame
        return self._unpack(self._align.process(self._pack(chunk)), first, *self._shape)

    def flush(self) -> FeatureChunk | None:
        """The final partial frame; resets the aligner."""
        if self._origin is None:
            return None
        first = self._align.next_frame
        out = self._unpack(self._align.flush(), first, *self._shape)
        self._origin = None
        return out
