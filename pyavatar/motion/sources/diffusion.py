"""The ``diffusion`` motion source: a FaceParams diffusion model streamed in overlapping windows.

The model is a checkpoint written by :func:`~pyavatar.motion.diffusion.save_motion_model`
(``weights=FILE``) or a model object (``model=``, the SDK and the benchmarks);
it runs :class:`~pyavatar.motion.diffusion.StreamingMotionGenerator` with
:data:`LIVE_STREAM` windows (1 new frame per window, no look-ahead: low
latency) in the worker of :class:`~pyavatar.motion.sources.base.WindowedSource`,
each denoiser call one traced graph over cached conditions
(:class:`~pyavatar.motion.diffusion.DenoiserCache`), after a warm-up window
run before any audio. A window runs on ``threads`` torch intra-op threads (1 by
default: its layers, 9 frames × 3 guidance rows, gain nothing from a second
OpenMP thread, whose parallel regions and spin-waits compete with the renderer
for the cores; see :func:`intra_op_threads`).
Every control is honoured: emotion (label, intensity, eyes/brows apart),
lip scale, gaze, head-pose amplitude and reference pose through
:class:`~pyavatar.motion.diffusion.MotionControls`; mute feeds the model silence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyavatar.face.params import FaceParams
from pyavatar.motion.diffusion import (
    DiffusionMotionModel,
    Guidance,
    MotionControls,
    StreamConfig,
    StreamingMotionGenerator,
    load_motion_model,
)
from pyavatar.motion.diffusion.audio import FPS
from pyavatar.motion.emotion import PRESET_NAMES
from pyavatar.motion.registry import CONTROLS
from pyavatar.motion.sources.base import SPEECH_RATE, WindowedSource, WindowEngine, frame_loudness_db
from pyavatar.packets import NS_PER_S, AudioChunk

#: Window layout of the source: 8 context frames, 1 new, no look-ahead, 3 DDIM steps: a window per 40 ms frame,
#: about a third of the work of the first layout (18 context + 2 new frames, 5 steps) per window and 40 ms less
#: waiting for audio, with the jaw as close to the offline generation of a trained model (benchmarks/MOTION.md,
#: "Live window layout"). ``steps=`` / ``--steps`` raise the steps.
LIVE_STREAM = StreamConfig(window=9, new_frames=1, lookahead=0, steps=3)
_PER_FRAME = SPEECH_RATE // FPS
#: torch intra-op threads a window runs on by default.
WINDOW_THREADS = 1


@contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count (``None``: unchanged).

    The count is set in the calling thread (torch 2.13 with OpenMP: ``torch.get_num_threads()`` in another thread
    stays as it was); it is also the default of threads that start torch work later, hence the restore.
    pyavatar's C++ kernels called directly (the classical renderer's rasterizer) keep their own count
    (``pyavatar._core.set_num_threads``).
    """
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DiffusionEngine(WindowEngine):
    """Windows of a :class:`StreamingMotionGenerator` on a FaceParams model (16 kHz samples in)."""

    name = "diffusion"
    fps = float(FPS)
    controls = frozenset(CONTROLS)

    def __init__(
        self,
        model: DiffusionMotionModel,
        stream: StreamConfig,
        controls: MotionControls,
        *,
        graph: bool = False,
        threads: int | None = WINDOW_THREADS,
    ) -> None:
        if model.space.name != "face_params":
            raise ValueError(
                f"motion source 'diffusion' needs a face_params model, this one is "
                f"{model.space.name!r} (keypoint motion: use --motion joyvasa)"
            )
        if model.cfg.audio != "logmel":
            raise ValueError(
                "motion source 'diffusion' needs a log-mel model (speech-encoder models are not "
                "wired to the runtime yet)"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"motion source 'diffusion': threads must be >= 1 or None, got {threads}")
        self.threads = threads
        self.gen = StreamingMotionGenerator(model, stream, controls, graph=graph)
        with intra_op_threads(threads):
            self.gen.warm_up()  # before any audio: the first window must not pay for set-up
        self.frames_per_window = stream.new_frames
        self._muted = False
        self.reset()

    def reset(self) -> None:
        """Start a new stream (controls are kept)."""
        self.gen.reset()
        self._samples = 0
        self._rest = np.zeros(0, np.float32)
        self._loud: list[float] = []

    def _windows(self, chunk: Any) -> list[tuple[int, np.ndarray, Any, Any, np.ndarray]]:
        if chunk is None:
            return []
        first = round(chunk.pts_ns * FPS / NS_PER_S)
        n = len(chunk.values)
        loud = np.full(n, -120.0)
        have = np.asarray(self._loud[first : first + n])
        loud[: len(have)] = have
        step = self.frames_per_window
        values = FaceParams(chunk.values).values.astype(np.float32)  # clamped to the fields' ranges
        return [(first + i, values[i : i + step], None, None, loud[i : i + step]) for i in range(0, n, step)]

    def push(self, samples: np.ndarray) -> list[tuple[int, np.ndarray, Any, Any, np.ndarray]]:
        """The windows completed by 16 kHz ``samples`` (silence is fed while muted)."""
        buf = np.concatenate([self._rest, samples])
        whole = len(buf) // _PER_FRAME * _PER_FRAME
        self._loud.extend(frame_loudness_db(buf[:whole], _PER_FRAME).tolist())
        self._rest = buf[whole:]
        fed = np.zeros_like(samples) if self._muted else samples
        chunk = AudioChunk(self._samples * NS_PER_S // SPEECH_RATE, SPEECH_RATE, fed.astype(np.float32))
        self._samples += len(samples)
        with intra_op_threads(self.threads):
            return self._windows(self.gen.push(chunk))

    def finish(self) -> list[tuple[int, np.ndarray, Any, Any, np.ndarray]]:
        """The remaining frames of the stream."""
        with intra_op_threads(self.threads):
            return self._windows(self.gen.flush())

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a checked control from the next window."""
        if name == "emotion":
            upper = values.get("upper")
            self.gen.set(
                emotion=_label(values["name"]),
                emotion_intensity=values["intensity"],
                upper_emotion=None if upper is None else _label(upper),
            )
        elif name == "intensity":
            self.gen.set(emotion_intensity=values["intensity"])
        elif name == "lip_scale":
            self.gen.set(lip_scale=values["scale"])
        elif name == "gaze":
            self.gen.set(gaze=None if values["yaw"] is None else (values["yaw"], values["pitch"]))
        elif name == "mute":
            self._muted = bool(values["muted"])
        elif name == "head_amplitude":
            self.gen.set(pose_amplitude=values["amplitude"])
        elif name == "head_pose":
            pose = (values["pitch"], values["yaw"], values["roll"])
            self.gen.set(reference_pose=None if pose[0] is None else pose)

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """Raise for a control or an emotion name this source cannot honour."""
        super().check_control(name, values)
        if name == "emotion":
            for emotion in (values["name"], values.get("upper")):
                if emotion is not None and emotion not in PRESET_NAMES:
                    raise ValueError(f"unknown emotion {emotion!r}; choose from {list(PRESET_NAMES)}")


def _label(name: str) -> str | None:
    return None if name == "neutral" else name


def from_options(
    *,
    fps: float,
    seed: int = 0,
    weights: str | Path | None = None,
    model: DiffusionMotionModel | None = None,
    steps: int | None = None,
    cfg: float | None = None,
    stream: StreamConfig | None = None,
    graph: bool = True,
    threads: int | None = WINDOW_THREADS,
) -> WindowedSource:
    """The registry's factory: ``weights`` (a save_motion_model file) or ``model``.

    ``threads``: torch intra-op threads per window (``None``: whatever torch is set to).

    The model is loaded and checked here, before any audio.
    """
    if fps != FPS:
        raise ValueError(
            f"motion source 'diffusion' generates {FPS} fps motion, asked for {fps:g} "
            f"(the session interpolates it to the output rate)"
        )
    if (weights is None) == (model is None):
        raise ValueError(
            "motion source 'diffusion' needs its model: --motion-weights FILE (a checkpoint "
            "written by save_motion_model) or model="
        )
    if model is None:
        model = load_motion_model(Path(weights))  # type: ignore[arg-type]
    stream = stream or LIVE_STREAM
    if steps is not None:
        stream = replace(stream, steps=int(steps))
    controls = MotionControls(seed=int(seed), guidance=Guidance(audio=float(cfg)) if cfg is not None else Guidance())
    engine = DiffusionEngine(model, stream, controls, graph=graph, threads=threads)
    return WindowedSource(engine, engine.gen.latency()["algorithmic"])
