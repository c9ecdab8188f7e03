"""Streaming audio → motion with overlapping diffusion windows (Ditto's online recipe).

Every step samples one window of ``window`` frames: ``context`` frames
already emitted (fed back as known motion), ``new_frames`` frames to emit
now, and ``lookahead`` frames that are only provisional::

    |<- context ->|<- new ->|<- lookahead ->|
     known motion   emitted   kept, cross-faded with the next window

Continuity across windows comes from three things: the context frames are a
condition; the new prediction is anchored to the last emitted frame (the
offset between the prediction and the emitted frame at the last context
position decays linearly to zero over the new and look-ahead frames); the
overlap with the previous window's look-ahead is cross-faded linearly.
Noise is drawn per frame from the session seed as frames enter the window,
so overlapping windows share it. Buffers hold at most one window, so memory
is constant for unbounded audio.

Latency: the first frames need ``(new_frames + lookahead) / fps`` seconds
of audio (plus the feature look-ahead) and one step of compute; in steady
state the oldest frame of a step waits the same, the newest
``(lookahead + 1) / fps``. :meth:`StreamingMotionGenerator.latency` reports them.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from pyavatar.audio.features import LOOKAHEAD_S, FeatureExtractor
from pyavatar.motion.common.keypoints import SourceKeypoints, compose_keypoints, rotation_matrix
from pyavatar.motion.diffusion.audio import FPS, LogMelFrames, StreamingSSL
from pyavatar.motion.diffusion.conformer import Conditions, DenoiserCache
from pyavatar.motion.diffusion.controls import (
    LoudnessTracker,
    MotionControls,
    apply_output_controls,
    reference_expression,
)
from pyavatar.motion.diffusion.model import DiffusionMotionModel
from pyavatar.motion.diffusion.sampler import Branch, NoiseSchedule, ddim_sample, guidance_plan
from pyavatar.motion.diffusion.smoothing import make_smoother
from pyavatar.motion.diffusion.space import chunk_fields
from pyavatar.packets import NS_PER_S, AudioChunk, FeatureChunk, MotionChunk

_SAMPLES_PER_FRAME = 16_000 // FPS


@dataclass(frozen=True)
class StreamConfig:
    """Window layout (frames at 25 fps), sampler and smoothing of a :class:`StreamingMotionGenerator`.

    ``temperature`` scales the sampling noise (1 = the model's distribution,
    0 = deterministic, the mode the sampler converges to).
    """

    window: int = 40
    new_frames: int = 10
    lookahead: int = 10
    steps: int = 5
    eta: float = 0.0
    temperature: float = 1.0
    smoothing: str = "one_euro"
    smoothing_params: dict = field(default_factory=dict)
    anchor: bool = True
    crossfade: bool = True

    def __post_init__(self) -> None:
        if self.new_frames < 1 or self.lookahead < 0:
            raise ValueError(
                f"StreamConfig: new_frames >= 1 and lookahead >= 0 required, got {self.new_frames}, {self.lookahead}"
            )
        if self.context < 1:
            raise ValueError(
                f"StreamConfig: window {self.window} leaves no context frames after "
                f"new_frames {self.new_frames} + lookahead {self.lookahead}"
            )
        if self.steps < 1 or self.eta < 0 or self.temperature < 0:
            raise ValueError(
                f"StreamConfig: steps >= 1, eta >= 0 and temperature >= 0 required, "
                f"got {self.steps}, {self.eta}, {self.temperature}"
            )
        make_smoother(self.smoothing, FPS, **self.smoothing_params)

    @property
    def context(self) -> int:
        """Emitted frames fed back as known motion."""
        return self.window - self.new_frames - self.lookahead


class _LoudnessFrames:
    """Per-motion-frame loudness (dB) of raw 16 kHz audio."""

    def __init__(self) -> None:
        self._rest = np.zeros(0, np.float64)

    def flush(self) -> np.ndarray:
        """The last, partial frame (zero-padded), if any."""
        if not len(self._rest):
            return np.zeros(0)
        return self.process(np.zeros(_SAMPLES_PER_FRAME - len(self._rest)))

    def process(self, samples: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._rest, samples.astype(np.float64)])
        n = len(buf) // _SAMPLES_PER_FRAME
        power = (buf[: n * _SAMPLES_PER_FRAME].reshape(n, _SAMPLES_PER_FRAME) ** 2).mean(axis=1)
        self._rest = buf[n * _SAMPLES_PER_FRAME :]
        return 10.0 * np.log10(np.maximum(power, 1e-12))


class StreamingMotionGenerator:
    """Unbounded audio in, motion frames out, with live controls (see the module docstring).

    Args:
        model: a :class:`DiffusionMotionModel` (log-mel or speech-encoder audio).
        config: window layout, DDIM steps/eta, smoothing.
        controls: initial :class:`MotionControls`.
        source: source-face keypoints; with a keypoints model, chunks then
            carry LivePortrait driving keypoints composed JoyVASA's way (lips absolute).
        ssl: the :class:`StreamingSSL` front end for ``audio="ssl"`` models.
        cache: reuse the denoiser's step-independent work (:class:`DenoiserCache`; bit-identical
            results). ``False`` recomputes everything, for comparisons. The model's weights must
            not change while it streams.
        graph: with the cache, run each denoiser call as one traced graph
            (``DenoiserCache(graph=True)``; the PyTorch attention; less Python overhead per window).
    """

    def __init__(
        self,
        model: DiffusionMotionModel,
        config: StreamConfig | None = None,
        controls: MotionControls | None = None,
        *,
        source: SourceKeypoints | None = None,
        ssl: StreamingSSL | None = None,
        cache: bool = True,
        graph: bool = False,
    ) -> None:
        self.model = model.eval()
        self.config = config or StreamConfig()
        self._controls = controls or MotionControls()
        self._controls.validate()
        if model.cfg.audio == "ssl":
            if ssl is None:
                raise ValueError("StreamingMotionGenerator: an 'ssl' model needs ssl=StreamingSSL(encoder)")
            states = ssl.encoder.num_states if ssl.all_layers else 1
            if (states, ssl.encoder.config.hidden_size) != (model.cfg.ssl_states, model.cfg.ssl_dim):
                raise ValueError(
                    f"StreamingMotionGenerator: speech encoder gives {states} states of width "
                    f"{ssl.encoder.config.hidden_size}, model expects {model.cfg.ssl_states} of "
                    f"{model.cfg.ssl_dim}"
                )
        if source is not None and model.space.name != "keypoints":
            raise ValueError("StreamingMotionGenerator: source keypoints need a keypoints-space model")
        self.source = source
        self._ssl = ssl
        self._schedule = NoiseSchedule(model.cfg.train_steps)
        p = next(model.parameters())
        self._device, self._dtype = p.device, p.dtype
        self.step_times: deque[float] = deque(maxlen=200)
        self._cache = DenoiserCache(graph=graph) if cache else None
        self.reset()

    # ------------------------------------------------------------------ controls

    @property
    def controls(self) -> MotionControls:
        """The current controls (replace with :meth:`set`)."""
        return self._controls

    def set(self, **changes: object) -> None:
        """Change controls; they apply from the next generated frame."""
        new = self._controls.updated(**changes)
        if new.seed != self._controls.seed:
            self._gen.manual_seed(int(new.seed))
        self._controls = new
        if self._cache is not None:
            self._cache.new_conditions()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Start a new stream (controls are kept)."""
        cfg = self.config
        self._fe = FeatureExtractor()
        self._mel = LogMelFrames()
        self._loud_frames = _LoudnessFrames()
        if self._ssl is not None:
            self._ssl.reset()
        self._origin: int | None = None
        self._next = 0
        self._received = 0  # real audio frames so far
        self._rows = self._silence(cfg.context)
        self._row0 = -cfg.context
        self._loud = np.full(cfg.context, -120.0)
        self._gen = torch.Generator().manual_seed(int(self._controls.seed))
        self._noise = torch.zeros(0, cfg.steps, self.model.space.dim)
        self._noise0 = -cfg.context
        rest = self.model.normalize(self.model.rest.to(self._device))
        self._history = rest.expand(cfg.context, -1).clone()
        self._pending: Tensor | None = None
        self._smoother = make_smoother(cfg.smoothing, FPS, **cfg.smoothing_params)
        self._loudness = LoudnessTracker(FPS)
        self._kp_reference: dict[str, np.ndarray] | None = None
        self.first_step_s: float | None = None

    def warm_up(self) -> None:
        """Run one window on silence, then start a new stream.

        The first real window then runs at full speed (kernels set up, a ``graph`` traced); results are
        as without it.
        """
        cfg = self.config
        need = (cfg.new_frames + cfg.lookahead + 1) * _SAMPLES_PER_FRAME
        while self.first_step_s is None:
            self.push(AudioChunk(0, 16_000, np.zeros(need, np.float32)))
        self.reset()
        self.step_times.clear()

    def _silence(self, n: int) -> Tensor:
        if self._ssl is None:
            return torch.from_numpy(LogMelFrames.silence(n)[0]).to(self._device, self._dtype)
        enc = self._ssl.encoder
        with torch.no_grad():
            states = enc(
                torch.zeros(1, n * _SAMPLES_PER_FRAME + 80, device=self._device), all_layers=self._ssl.all_layers
            )
        states = states if self._ssl.all_layers else states[:, None]
        frames = states[0, :, : 2 * n]
        return frames.reshape(frames.shape[0], n, 2, -1).transpose(0, 1).to(self._dtype)

    def buffered_frames(self) -> dict[str, int]:
        """Frames held in each internal buffer (bounded by the window; for memory checks)."""
        return {
            "audio": len(self._rows),
            "loudness": len(self._loud),
            "noise": len(self._noise),
            "history": len(self._history),
            "pending": 0 if self._pending is None else len(self._pending),
        }

    def latency(self) -> dict[str, float]:
        """Latency figures in seconds.

        ``algorithmic`` (audio needed before a step's oldest frame), ``first_frame`` (that plus the first
        step's compute), ``steady_state`` (plus the median step), ``step`` (median compute), and ``rtf``.
        """
        cfg = self.config
        feature_la = self._ssl.lookahead_s if self._ssl is not None else LOOKAHEAD_S
        algorithmic = (cfg.new_frames + cfg.lookahead) / FPS + feature_la
        step = statistics.median(self.step_times) if self.step_times else float("nan")
        first = algorithmic + (self.first_step_s if self.first_step_s is not None else float("nan"))
        return {
            "algorithmic": algorithmic,
            "first_frame": first,
            "steady_state": algorithmic + step,
            "step": step,
            "rtf": step / (cfg.new_frames / FPS),
        }

    # ------------------------------------------------------------------ input

    def push(self, chunk: AudioChunk | FeatureChunk) -> MotionChunk | None:
        """Motion frames made possible by ``chunk`` (16 kHz audio, or 100 Hz features for log-mel models)."""
        if isinstance(chunk, FeatureChunk):
            if self._ssl is not None:
                raise ValueError("push: this model takes audio (AudioChunk), not FeatureChunk")
            self._take_features(chunk)
        else:
            if self._origin is None:
                self._origin = chunk.pts_ns
            if self._ssl is not None:
                self._loud = np.concatenate([self._loud, self._loud_frames.process(chunk.samples)])
                self._append(self._ssl.process(chunk).to(self._dtype))
            else:
                feats = self._fe.process(chunk)
                if feats is not None:
                    self._take_features(feats)
        return self._run()

    def flush(self) -> MotionChunk | None:
        """Emit the remaining frames (silence fills the look-ahead) and start a new stream."""
        if self._ssl is None:
            feats = self._fe.flush()
            if feats is not None:
                self._take_features(feats)
        elif self._origin is not None:
            self._loud = np.concatenate([self._loud, self._loud_frames.flush()])
            self._append(self._ssl.flush().to(self._dtype))
        n_real = self._received
        need = self.config.window
        parts = []
        while self._next < n_real:
            have = self._row0 + len(self._rows)
            short = (self._next - self.config.context + need) - have
            if short > 0:
                self._append(self._silence(short), real=False)
            out = self._run(limit=n_real)
            if out is not None:
                parts.append(out)
        self.reset()
        if not parts:
            return None
        return MotionChunk(
            parts[0].pts_ns,
            FPS,
            parts[0].space,
            np.concatenate([p.values for p in parts]),
            None if parts[0].keypoints is None else np.concatenate([p.keypoints for p in parts]),
        )

    def _take_features(self, chunk: FeatureChunk) -> None:
        if self._origin is None:
            self._origin = chunk.pts_ns
        rows, loud = self._mel.process(chunk)
        if len(rows):
            self._loud = np.concatenate([self._loud, loud])
            self._append(torch.from_numpy(rows).to(self._device, self._dtype))

    def _append(self, rows: Tensor, real: bool = True) -> None:
        self._rows = torch.cat([self._rows, rows])
        if real:
            self._received += len(rows)
        short = len(self._rows) - len(self._loud)  # loudness covers at least the audio rows
        if short > 0:
            self._loud = np.concatenate([self._loud, np.full(short, -120.0)])

    # ------------------------------------------------------------------ generation

    def _run(self, limit: int | None = None) -> MotionChunk | None:
        cfg = self.config
        chunks = []
        while self._row0 + len(self._rows) >= self._next - cfg.context + cfg.window:
            first = self._next
            t0 = time.perf_counter()
            raw, kp = self._finish(*self._step())
            dt = time.perf_counter() - t0
            self.step_times.append(dt)
            if self.first_step_s is None:
                self.first_step_s = dt
            if limit is not None:
                keep = max(0, min(len(raw), limit - first))
                raw, kp = raw[:keep], None if kp is None else kp[:keep]
            chunks.append((first, raw, kp))
            if limit is not None:
                break
        if not chunks or self._origin is None:
            return None
        first = chunks[0][0]
        values = np.concatenate([c[1] for c in chunks])
        kps = None if chunks[0][2] is None else np.concatenate([c[2] for c in chunks])
        return MotionChunk(self._origin + first * NS_PER_S // FPS, FPS, self.model.space.name, values, kps)

    def _noise_for(self, start: int, stop: int) -> Tensor:
        missing = stop - (self._noise0 + len(self._noise))
        if missing > 0:
            fresh = torch.randn(missing, self.config.steps, self.model.space.dim, generator=self._gen)
            self._noise = torch.cat([self._noise, fresh])
        return self._noise[start - self._noise0 : stop - self._noise0].to(self._device, self._dtype)

    def _conditions(self, audio: Tensor, branches: list[Branch]) -> Conditions:
        c, model = self._controls, self.model
        nb, w = len(branches), audio.shape[1]
        dev, dt = self._device, self._dtype
        cfg = self.config
        known = torch.zeros(w, model.space.dim, device=dev, dtype=dt)
        known[: cfg.context] = self._history
        mask = torch.zeros(w, device=dev, dtype=dt)
        mask[: cfg.context] = 1
        vectors = {None: np.zeros_like(c.lips_emotion()), "lips": c.lips_emotion(), "upper": c.upper_emotion_vector()}
        emotion = torch.tensor(np.stack([vectors[b.emotion] for b in branches]), device=dev, dtype=dt)
        if c.emotion_reference is not None:
            rest = model.rest.cpu().numpy()
            raw = reference_expression(c.emotion_reference, model.space, rest)
            raw = rest + c.reference_intensity * (raw - rest)
            ref = model.normalize(torch.as_tensor(raw, device=dev, dtype=dt)).expand(nb, -1)
        else:
            ref = torch.zeros(nb, model.space.dim, device=dev, dtype=dt)
        pose = torch.tensor(c.reference_pose if c.reference_pose is not None else (0.0, 0.0, 0.0), device=dev, dtype=dt)
        gaze = torch.tensor(c.gaze if c.gaze is not None else (0.0, 0.0), device=dev, dtype=dt)

        def flags(values: list[bool]) -> Tensor:
            return torch.tensor(values, device=dev)

        return Conditions(
            audio=audio.expand(nb, -1, -1),
            audio_on=flags([b.audio for b in branches]),
            known=known.expand(nb, -1, -1),
            known_mask=mask.expand(nb, -1),
            emotion=emotion,
            emotion_on=flags([b.emotion is not None for b in branches]),
            emotion_ref=ref,
            ref_present=flags([c.emotion_reference is not None] * nb),
            pose=pose.expand(nb, -1),
            pose_on=flags([b.pose for b in branches]),
            gaze=gaze.expand(nb, -1),
            gaze_on=flags([c.gaze is not None] * nb),
        )

    @torch.no_grad()
    def _step(self) -> tuple[Tensor, np.ndarray]:
        cfg, model, c = self.config, self.model, self._controls
        ctx, n_new, la, w = cfg.context, cfg.new_frames, cfg.lookahead, cfg.window
        start = self._next - ctx
        rows = self._rows[start - self._row0 : start - self._row0 + w]
        audio = model.audio_tokens(rows[None])
        branches, weights = guidance_plan(
            model.space, c.guidance, split_regions=c.split_regions, pose_given=c.reference_pose is not None
        )
        cond = self._conditions(audio, branches)
        wts = torch.as_tensor(weights, device=self._device, dtype=self._dtype)[:, None, :]
        nb = len(branches)
        if self._cache is not None:
            self._cache.new_audio()

        def predict(x: Tensor, t: int) -> Tensor:
            steps = torch.full((nb,), t, device=self._device, dtype=self._dtype)
            out = model.denoiser(x.expand(nb, -1, -1), steps, cond, self._cache)
            return (wts * out).sum(0, keepdim=True)

        noise = self._noise_for(start, start + w) * cfg.temperature  # (w, steps, dim)
        x_T = noise[:, 0][None]
        step_noise = noise[:, 1:].permute(1, 0, 2)[:, None]
        x0 = ddim_sample(predict, x_T, self._schedule, cfg.steps, eta=cfg.eta, noise=step_noise)[0]
        pending = self._pending if self._pending is not None and len(self._pending) else None
        if cfg.anchor:
            span = n_new + la
            ramp = 1.0 - torch.arange(1, span + 1, device=self._device, dtype=self._dtype) / (span + 1)
            if pending is not None:  # move towards the previous window's estimate of the next frame
                offset = pending[0] - x0[ctx]
            else:  # continue from the last emitted frame
                offset = self._history[-1] - x0[ctx - 1]
            x0[ctx:] = x0[ctx:] + offset * ramp[:, None]
        if cfg.crossfade and pending is not None:
            p = len(pending)
            wgt = (torch.arange(1, p + 1, device=self._device, dtype=self._dtype) / (p + 1))[:, None]
            x0[ctx : ctx + p] = (1 - wgt) * pending + wgt * x0[ctx : ctx + p]
        emitted = x0[ctx : ctx + n_new]
        first = self._next - self._row0
        loud = self._loud[first : first + n_new]
        self._pending = x0[ctx + n_new :].clone()
        self._history = torch.cat([self._history, emitted])[-ctx:]
        self._next += n_new
        keep_from = self._next - ctx
        drop = keep_from - self._row0
        self._rows, self._loud, self._row0 = self._rows[drop:], self._loud[drop:], keep_from
        self._noise = self._noise[keep_from - self._noise0 :]
        self._noise0 = keep_from
        return emitted, loud

    def _finish(self, emitted: Tensor, loud: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        model, c = self.model, self._controls
        n = len(emitted)
        raw = model.denormalize(emitted).float().cpu().numpy()
        factor = self._loudness.factors(loud, c.lip_loudness)
        raw = apply_output_controls(raw, model.space, c, model.rest.cpu().numpy(), factor)
        if self._smoother is not None:
            pose = list(model.space.pose)
            for i in range(n):
                raw[i, pose] = self._smoother(raw[i, pose])
        kp = None
        if self.source is not None:
            f = chunk_fields(MotionChunk(0, FPS, "keypoints", raw))
            f["R"] = rotation_matrix(f["pitch"], f["yaw"], f["roll"])
            if self._kp_reference is None:
                self._kp_reference = {k: v[:1].copy() for k, v in f.items()}
            kp = compose_keypoints(f, self.source, reference=self._kp_reference)
        return raw.astype(np.float32), kp
