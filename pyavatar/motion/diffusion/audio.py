"""Audio conditioning at the motion frame rate (25 fps).

``logmel``: the four 100 Hz log-mel frames of a 40 ms motion frame stacked
(4 x 80 = 320 values) from :class:`~pyavatar.packets.FeatureChunk` s.
``ssl``: HuBERT / wav2vec 2.0 hidden states (the last, or all of them for a
learned softmax-weighted sum over layers) of the two 50 Hz frames of a
motion frame, reduced 50 → 25 Hz by pair averaging or a learned stride-2
convolution (:class:`SSLFrontEnd`). :class:`StreamingSSL` runs the speech
encoder on overlapping audio segments (left context, hop, look-ahead), so
its cost per second is constant for unbounded input.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from pyavatar.audio.features import N_MELS
from pyavatar.motion.common.ssl import SSLEncoder
from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk

FPS = 25
MEL_STACK = 4  # 100 Hz feature frames per motion frame
LOGMEL_DIM = MEL_STACK * N_MELS
SILENT_LOG_MEL = float(np.log(1e-10))  # log-mel of digital silence (the extractor's floor)
_SSL_HOP = 320  # samples per 50 Hz frame
_SSL_TAIL = 80  # a 50 Hz frame's receptive field reaches 80 samples past the next frame's start


class LogMelFrames:
    """Streaming grouping of 100 Hz features into motion frames: (n, 320) log-mel rows and (n,) loudness in dB."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._mel = np.zeros((0, N_MELS), np.float32)
        self._pow = np.zeros(0, np.float64)
        self.pts_ns: int | None = None

    def process(self, chunk: FeatureChunk) -> tuple[np.ndarray, np.ndarray]:
        """Motion frames completed by ``chunk`` (100 Hz features, consecutive chunks of one stream)."""
        if abs(chunk.frame_rate - FPS * MEL_STACK) > 1e-6:
            raise ValueError(f"LogMelFrames: expected {FPS * MEL_STACK} Hz features, got {chunk.frame_rate} Hz")
        if chunk.log_mel.shape[1] != N_MELS:
            raise ValueError(f"LogMelFrames: expected {N_MELS} mel bands, got {chunk.log_mel.shape[1]}")
        if self.pts_ns is None:
            self.pts_ns = chunk.pts_ns
        self._mel = np.concatenate([self._mel, chunk.log_mel.astype(np.float32)])
        self._pow = np.concatenate([self._pow, chunk.rms.astype(np.float64) ** 2])
        n = len(self._mel) // MEL_STACK
        take = n * MEL_STACK
        rows = self._mel[:take].reshape(n, LOGMEL_DIM)
        power = self._pow[:take].reshape(n, MEL_STACK).mean(axis=1)
        self._mel, self._pow = self._mel[take:], self._pow[take:]
        return rows, 10.0 * np.log10(np.maximum(power, 1e-12))

    @staticmethod
    def silence(n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` frames of digital silence."""
        return np.full((n, LOGMEL_DIM), SILENT_LOG_MEL, np.float32), np.full(n, -120.0)


class SSLFrontEnd(nn.Module):
    """(B, T, S, 2, C) hidden states of 2 x 50 Hz frames per motion frame → (B, T, C_out) tokens.

    ``S > 1``: softmax-weighted sum over the states with learned logits
    (initialised equal). ``downsample="mean"`` averages the pair (C_out = C);
    ``"conv"`` applies a learned ``Conv1d(C, C_out, 3, stride=2, padding=1)``
    along time (AniTalker's reduction; ``out_dim`` defaults to C).
    """

    def __init__(self, states: int, dim: int, downsample: str = "mean", out_dim: int | None = None) -> None:
        super().__init__()
        if downsample not in ("mean", "conv"):
            raise ValueError(f"SSLFrontEnd: downsample must be 'mean' or 'conv', got {downsample!r}")
        if downsample == "mean" and out_dim not in (None, dim):
            raise ValueError(f"SSLFrontEnd: 'mean' keeps the width {dim}, got out_dim={out_dim}")
        self.states, self.dim, self.downsample = states, dim, downsample
        self.out_dim = dim if out_dim is None else out_dim
        self.layer_logits = nn.Parameter(torch.zeros(states)) if states > 1 else None
        self.conv = nn.Conv1d(dim, self.out_dim, 3, stride=2, padding=1) if downsample == "conv" else None

    def reduce(self, h: Tensor) -> Tensor:
        """(B, S, L, C) states at 50 Hz → (B, ceil(L / 2), C) at 25 Hz (odd L: the last frame is repeated)."""
        b, s, n, c = h.shape
        if (s, c) != (self.states, self.dim):
            raise ValueError(f"SSLFrontEnd: expected (B, {self.states}, L, {self.dim}) states, got {tuple(h.shape)}")
        h = (
            torch.einsum("bslc,s->blc", h, torch.softmax(self.layer_logits, 0))
            if self.layer_logits is not None
            else h[:, 0]
        )
        if self.conv is not None:
            return self.conv(h.transpose(1, 2)).transpose(1, 2)
        if n % 2:
            h = torch.cat([h, h[:, -1:]], dim=1)
        return h.reshape(b, -1, 2, c).mean(dim=2)

    def forward(self, h: Tensor) -> Tensor:
        """(B, T, S, 2, C) pairs per motion frame → (B, T, C)."""
        b, t, s, two, c = h.shape
        if two != 2:
            raise ValueError(f"SSLFrontEnd: expected 2 frames per motion frame, got {tuple(h.shape)}")
        return self.reduce(h.permute(0, 2, 1, 3, 4).reshape(b, s, 2 * t, c))


class StreamingSSL:
    """Speech-encoder states for a live 16 kHz stream, ``hop`` motion frames at a time.

    Each call encodes ``left`` 50 Hz frames of past audio, the hop, and
    ``lookahead`` 50 Hz frames of future audio (the stream starts with
    ``left`` frames of silence), and keeps the hop's frames. Output rows are
    (S, 2, C) per motion frame: every hidden state when ``all_layers`` else the last.
    Encoders with per-frame normalisation stream exactly what one long
    encoding gives (given enough context); group-norm front ends (HuBERT
    base) normalise over the segment, so their states depend a little on it.
    """

    def __init__(
        self, encoder: SSLEncoder, *, hop: int = 5, left: int = 50, lookahead: int = 4, all_layers: bool = True
    ) -> None:
        if hop <= 0 or left < 0 or lookahead < 0:
            raise ValueError(
                f"StreamingSSL: hop > 0, left >= 0, lookahead >= 0 required, got {hop}, {left}, {lookahead}"
            )
        self.encoder, self.hop, self.left, self.lookahead, self.all_layers = encoder, hop, left, lookahead, all_layers
        self.reset()

    @property
    def lookahead_s(self) -> float:
        """Audio needed past the end of a motion frame, in seconds."""
        return (self.lookahead * _SSL_HOP + _SSL_TAIL) / 16_000

    def reset(self) -> None:
        """Start a new stream."""
        self._buf = np.zeros(self.left * _SSL_HOP, np.float32)  # starts at sample -left*320
        self._start = -self.left * _SSL_HOP
        self._next = 0  # next motion frame
        self.pts_ns: int | None = None

    def process(self, chunk: AudioChunk) -> Tensor:
        """(n, S, 2, C) states of the motion frames completed by ``chunk``."""
        if chunk.sample_rate != 16_000:
            raise ValueError(f"StreamingSSL needs 16 kHz audio, got {chunk.sample_rate} Hz")
        if self.pts_ns is None:
            self.pts_ns = chunk.pts_ns
        self._buf = np.concatenate([self._buf, chunk.samples])
        out = []
        device = next(self.encoder.parameters()).device
        while True:
            j0 = 2 * self._next
            j1 = j0 + 2 * self.hop
            seg0 = (j0 - self.left) * _SSL_HOP
            seg1 = (j1 + self.lookahead) * _SSL_HOP + _SSL_TAIL
            if seg1 > self._start + len(self._buf):
                break
            seg = torch.from_numpy(self._buf[seg0 - self._start : seg1 - self._start].copy()).to(device)[None]
            with torch.no_grad():
                states = self.encoder(seg, all_layers=self.all_layers)
            states = states if self.all_layers else states[:, None]
            frames = states[0, :, self.left : self.left + 2 * self.hop]  # (S, 2*hop, C)
            out.append(frames.reshape(frames.shape[0], self.hop, 2, -1).transpose(0, 1))
            self._next += self.hop
            drop = (2 * self._next - self.left) * _SSL_HOP - self._start
            self._buf, self._start = self._buf[drop:], self._start + drop
        if not out:
            s = self.encoder.num_states if self.all_layers else 1
            return torch.zeros(0, s, 2, self.encoder.config.hidden_size, device=device)
        return torch.cat(out)

    def flush(self) -> Tensor:
        """States of the remaining motion frames (the last one may be partial; silence fills the look-ahead)."""
        if self.pts_ns is None:
            return torch.zeros(0)
        received = self._start + len(self._buf)
        frames = -(-received // (2 * _SSL_HOP)) - self._next
        if frames <= 0:
            return self.process(AudioChunk(0, 16_000, np.zeros(0, np.float32)))[:0]
        need = (2 * (self._next + -(-frames // self.hop) * self.hop) + self.lookahead) * _SSL_HOP + _SSL_TAIL
        rows = self.process(AudioChunk(0, 16_000, np.zeros(max(need - received, 0), np.float32)))
        return rows[:frames]

    def frame_pts(self, index: int) -> int:
        """Stream time of motion frame ``index``."""
        assert self.pts_ns is not None
        return self.pts_ns + index * NS_PER_S // FPS


def loudness_db(samples: np.ndarray, frames: int, start: int = 0) -> np.ndarray:
    """Mean power in dB of ``frames`` motion frames (640 samples each) of 16 kHz audio from frame ``start``."""
    seg = np.zeros(frames * 640, np.float64)
    part = samples[start * 640 : (start + frames) * 640]
    seg[: len(part)] = part
    power = (seg.reshape(frames, 640) ** 2).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-12))
