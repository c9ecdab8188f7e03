"""The ``joyvasa`` motion source: JoyVASA windows streamed as LivePortrait keypoint motion.

Audio is cut into JoyVASA's back-to-back 4 s windows exactly as
:func:`pyavatar.motion.joyvasa.generate` cuts a whole clip (silence pads, one
``x_T`` for every window, noise drawn from one seeded generator in the same
order), and post-processed as the offline pipeline does (template
de-normalisation, JoyVASA's EMA on the pose, composition relative to the first
frame). So for the same audio and seed the keypoint stream equals the offline
result, whatever the chunking. The first two frames (the leading silence pad)
precede the audio and are not emitted.

Each frame carries the raw keypoint motion (``MotionFrame.keypoints``, 70
values in JoyVASA's layout) and its reference frame; FaceParams (for the
classical renderer, VMC and OSC) come from the ``portrait`` binding, which
reads them back through the LivePortrait bridge. Controls: lip scale (lip
keypoints around the template's mean), gaze (eyeball keypoints), head-pose
amplitude and reference pose (angles around the first frame), mute (the model
hears silence). Emotion is refused: JoyVASA has no emotion condition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from pyavatar.motion.common.keypoints import LIP_KEYPOINTS, MotionTemplate, ema_smooth, load_template, pack
from pyavatar.motion.diffusion.space import GAZE_EXP_GAIN
from pyavatar.motion.joyvasa.loader import load_joyvasa
from pyavatar.motion.joyvasa.model import JoyVASA
from pyavatar.motion.joyvasa.sampler import SILENCE_PAD, sample_window, window_plan
from pyavatar.motion.sources.base import WindowedSource, WindowEngine, frame_loudness_db

_LIP_DIMS = [3 * k + c for k in LIP_KEYPOINTS for c in range(3)]
_ANGLES = slice(67, 70)  # pitch, yaw, roll in LAYOUT


class KeypointPortrait(Protocol):
    """What the source needs from the portrait it drives (the SDK builds it from the neural renderer)."""

    def to_params(self, keypoints: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(T, F) FaceParams values for raw keypoint motion (T, 70) relative to ``reference`` (70,)."""


class JoyVASAEngine(WindowEngine):
    """JoyVASA's windows over a growing 16 kHz stream (see the module docstring)."""

    name = "joyvasa"
    controls = frozenset({"lip_scale", "gaze", "mute", "head_amplitude", "head_pose"})

    def __init__(
        self,
        model: JoyVASA,
        template: MotionTemplate,
        portrait: KeypointPortrait,
        *,
        seed: int = 0,
        cfg_scale: float | None = None,
    ) -> None:
        self.model = model
        self.template = template
        self.portrait = portrait
        self.seed = int(seed)
        self.cfg_scale = cfg_scale
        self.fps = float(model.cfg.fps)
        self.frames_per_window = model.cfg.n_motions
        self.lip_scale, self.amplitude = 1.0, 1.0
        self.gaze: tuple[float, float] | None = None
        self.head_pose: tuple[float, float, float] | None = None
        self.muted = False
        self._device = next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        """Start a new stream (seed and controls are kept)."""
        cfg = self.model.cfg
        self._gen = torch.Generator(device=self._device).manual_seed(self.seed)
        self._x_T = torch.randn((1, cfg.n_motions, cfg.motion_feat_dim), generator=self._gen, device=self._device)
        self._buf = np.zeros(SILENCE_PAD[0], np.float32)  # padded audio from sample self._buf0
        self._buf0 = 0
        self._done = 0
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self._ema: dict[str, np.ndarray] | None = None
        self._ref: np.ndarray | None = None

    def _window(self, last_frames: int | None = None) -> tuple[int, np.ndarray, Any, Any, np.ndarray]:
        cfg, w = self.model.cfg, self.model.cfg.window_samples
        lo = self._done * w - self._buf0
        audio = torch.from_numpy(self._buf[lo : lo + w].copy()).to(self._device)
        with torch.no_grad():
            feat = self.model.audio_features(audio[None])
            prev_m, prev_a = self._prev if self._prev is not None else (None, None)
            motion = sample_window(
                self.model,
                feat,
                self._x_T,
                prev_motion=prev_m,
                prev_audio=prev_a,
                cfg_scale=self.cfg_scale,
                generator=self._gen,
            )
        self._prev = motion[:, -cfg.n_prev_motions :], feat[:, -cfg.n_prev_motions :]
        loud = frame_loudness_db(self._buf[lo : lo + w], w // cfg.n_motions)
        first = self._done * cfg.n_motions
        self._done += 1
        keep = self._done * w - self._buf0
        self._buf, self._buf0 = self._buf[keep:], self._buf0 + keep
        raw = self.template.denormalize(motion[0])
        if self._ema is None:
            smooth = ema_smooth(raw)
        else:
            smooth = ema_smooth({k: np.concatenate([self._ema[k], v]) for k, v in raw.items()})
            smooth = {k: v[1:] for k, v in smooth.items()}
        self._ema = {k: v[-1:] for k, v in smooth.items()}
        kp = pack(smooth)
        if self._ref is None:
            self._ref = kp[0].copy()
        if last_frames is not None:
            kp, loud = kp[:last_frames], loud[:last_frames]
        lead = max(0, 2 - first)  # frames of the leading silence pad precede the audio
        kp, loud = kp[lead:], loud[lead:]
        kp = self._controlled(kp)
        params = self.portrait.to_params(kp, self._ref) if len(kp) else np.zeros((0, 0), np.float32)
        return first + lead - 2, params, kp, self._ref, loud

    def _controlled(self, kp: np.ndarray) -> np.ndarray:
        if self.lip_scale == 1.0 and self.amplitude == 1.0 and self.gaze is None and self.head_pose is None:
            return kp
        assert self._ref is not None
        out = kp.copy()
        mean = self.template.mean_exp[_LIP_DIMS]
        out[:, _LIP_DIMS] = mean + self.lip_scale * (out[:, _LIP_DIMS] - mean)
        center = self._ref[_ANGLES] + (np.asarray(self.head_pose, np.float32) if self.head_pose else 0.0)
        out[:, _ANGLES] = center + self.amplitude * (out[:, _ANGLES] - self._ref[_ANGLES])
        if self.gaze is not None:
            for (k, axis), gain in GAZE_EXP_GAIN.items():
                out[:, 3 * k + axis] += gain * self.gaze[axis]
        return out

    def push(self, samples: np.ndarray) -> list[tuple[int, np.ndarray, Any, Any, np.ndarray]]:
        """The windows completed by 16 kHz ``samples`` (silence is fed while muted)."""
        self._buf = np.concatenate([self._buf, np.zeros_like(samples) if self.muted else samples])
        w = self.model.cfg.window_samples
        out = []
        while self._buf0 + len(self._buf) >= (self._done + 1) * w:
            out.append(self._window())
        return [o for o in out if len(o[1])]

    def finish(self) -> list[tuple[int, np.ndarray, Any, Any, np.ndarray]]:
        """The remaining frames, the last window padded with silence."""
        cfg = self.model.cfg
        self._buf = np.concatenate([self._buf, np.zeros(SILENCE_PAD[1], np.float32)])
        total = self._buf0 + len(self._buf)
        n_windows, pad, pad_frames = window_plan(total, self.model)
        if pad > 0:
            fill = 0.0 if cfg.pad_mode == "zero" else float(self._buf[-1])
            self._buf = np.concatenate([self._buf, np.full(pad, fill, np.float32)])
        out = []
        while self._done < n_windows:
            last = self._done == n_windows - 1 and pad_frames > 0
            out.append(self._window(cfg.n_motions - pad_frames if last else None))
        return [o for o in out if len(o[1])]

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a checked control from the next window."""
        if name == "lip_scale":
            self.lip_scale = float(values["scale"])
        elif name == "gaze":
            self.gaze = None if values["yaw"] is None else (float(values["yaw"]), float(values["pitch"]))
        elif name == "mute":
            self.muted = bool(values["muted"])
        elif name == "head_amplitude":
            self.amplitude = float(values["amplitude"])
        elif name == "head_pose":
            pose = (values["pitch"], values["yaw"], values["roll"])
            self.head_pose = None if pose[0] is None else tuple(float(v) for v in pose)  # type: ignore[assignment]


def from_options(
    *,
    fps: float,
    portrait: KeypointPortrait,
    seed: int = 0,
    weights: str | Path | None = None,
    template: str | Path | MotionTemplate | None = None,
    hubert_dir: str | Path | None = None,
    model: JoyVASA | None = None,
    steps: int | None = None,
    cfg: float | None = None,
) -> WindowedSource:
    """The registry's factory: the checkpoint and template are loaded and checked here, before any audio."""
    if (weights is None) == (model is None):
        raise ValueError(
            "motion source 'joyvasa' needs its checkpoint: --motion-weights motion_generator.pt (or model=)"
        )
    if template is None:
        raise ValueError("motion source 'joyvasa' needs the motion template: --motion-template motion_template.pkl")
    if model is None:
        try:
            model = load_joyvasa(Path(weights), hubert_dir)  # type: ignore[arg-type]
        except RuntimeError as e:  # torch's shape mismatch: name the file
            raise ValueError(f"{weights}: weights do not fit the JoyVASA model they describe: {e}") from None
    if steps is not None and int(steps) != model.cfg.n_diff_steps:
        raise ValueError(
            f"motion source 'joyvasa' runs every step of its schedule ({model.cfg.n_diff_steps}); "
            f"--steps {steps} is for the diffusion source"
        )
    if fps != model.cfg.fps:
        raise ValueError(
            f"motion source 'joyvasa' generates {model.cfg.fps} fps motion, asked for {fps:g} "
            "(the session interpolates it to the output rate)"
        )
    if not isinstance(template, MotionTemplate):
        template = load_template(template)
    engine = JoyVASAEngine(model, template, portrait, seed=seed, cfg_scale=cfg)
    return WindowedSource(engine, model.cfg.n_motions / model.cfg.fps)
