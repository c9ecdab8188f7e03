"""Motion-source registry: one place that turns a motion-source name into a :class:`MotionSource`.

Built-in sources (factories imported on first use, so listing imports nothing heavy):

- ``dsp``: the DSP lip engine + idle motion + emotion (the default; no weights);
- ``learned``: the ``dsp`` source with a trained lip model (MouthNet, ``weights=FILE`` from
  ``pyavatar train-motion``) in the lip engine's place;
- ``diffusion``: a FaceParams diffusion checkpoint written by
  :func:`pyavatar.motion.diffusion.save_motion_model` (``weights=FILE``);
- ``joyvasa``: a JoyVASA motion generator + motion template → LivePortrait keypoint motion;
- ``video``: face tracking of a driving video or a camera (``driving=`` / ``camera=``);
- ``hybrid``: the mouth from ``dsp``, head, eyes and brows from face tracking;
- ``video-keypoints``: LivePortrait's motion extractor on each driving frame (neural renderer).

Names given on the command line, in OSC messages or in config files only ever
select a registered name: nothing here imports a user-given string. New
sources (e.g. a video-tracking source) plug in with
:func:`register_motion_source` from their own module; see docs/architecture.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: listing the sources (``--help``) must not import numpy
    from pyavatar.packets import AudioChunk, MotionFrame

#: The motion source used when none is named.
DEFAULT_MOTION = "dsp"

#: Every motion control a source may honour (the values each takes: see :meth:`MotionSource.apply_control`).
CONTROLS: tuple[str, ...] = (
    "emotion",
    "intensity",
    "lip_scale",
    "gaze",
    "mute",
    "head_amplitude",
    "head_pose",
)


class UnsupportedControl(ValueError):
    """A control the motion source cannot honour (the message names the source and what it supports)."""


@runtime_checkable
class MotionSource(Protocol):
    """Audio chunks in, :class:`~pyavatar.packets.MotionFrame` s out at :attr:`fps`, with controls.

    Controls (names in :data:`CONTROLS`, values already range-checked by the caller):
    ``emotion(name, intensity, upper)``, ``intensity(intensity)``, ``lip_scale(scale)``,
    ``gaze(yaw, pitch)`` (None/None releases), ``mute(muted)``, ``head_amplitude(amplitude)``,
    ``head_pose(pitch, yaw, roll)`` (None releases). A source raises :class:`UnsupportedControl`
    for a control it cannot honour, ValueError for a value it cannot use.
    """

    name: str
    fps: float
    controls: frozenset[str]

    @property
    def latency_s(self) -> float:
        """Audio needed past a frame's centre before the frame is produced (algorithmic latency)."""

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Frames completed by ``chunk``; ``live``: its timestamps are clock times (frames get capture times)."""

    def flush(self) -> list[MotionFrame]:
        """Frames of the stream's tail; then a new stream starts."""

    def reset(self) -> None:
        """Start a new stream without emitting the tail (controls are kept)."""

    def check_control(self, name: str, values: dict[str, Any]) -> None:
        """Raise UnsupportedControl / ValueError if the control cannot be applied."""

    def apply_control(self, name: str, values: dict[str, Any]) -> None:
        """Apply a control from the next frame."""

    def stats(self) -> dict[str, Any]:
        """Source statistics: ``latency_ms`` and, for windowed sources, per-window times."""


@dataclass(frozen=True)
class MotionSourceInfo:
    """What a registered source is and needs.

    Attributes:
        factory: ``"module:attribute"`` (imported on first use; only ever set by registration) or a callable
            ``factory(*, fps, seed, portrait, **options) -> MotionSource``.
        description: one line for listings.
        controls: the controls the source honours.
        produces: ``face_params`` and/or ``keypoints`` (LivePortrait keypoint motion).
        needs_portrait: the factory needs the neural renderer's prepared portrait (``portrait=``), e.g. to
            compose keypoints and read FaceParams back through the bridge.
        options: option names the factory takes besides fps, seed and portrait.
        fps: the source's fixed motion rate (None: any rate it is asked for).
    """

    factory: str | Callable[..., MotionSource]
    description: str
    controls: frozenset[str]
    produces: tuple[str, ...] = ("face_params",)
    needs_portrait: bool = False
    options: tuple[str, ...] = ()
    fps: float | None = None


_REGISTRY: dict[str, MotionSourceInfo] = {
    "dsp": MotionSourceInfo(
        "pyavatar.motion.sources.dsp:DspMotionSource",
        "DSP lip sync + idle motion + emotion (default, no weights)",
        frozenset(CONTROLS),
        options=("profile", "lip_settings"),
    ),
    "learned": MotionSourceInfo(
        "pyavatar.motion.sources.learned:LearnedMotionSource",
        "trained lip model (weights=RUN/best.safetensors or the bundled one) + idle motion + emotion",
        frozenset(CONTROLS),
        options=("weights",),
    ),
    "diffusion": MotionSourceInfo(
        "pyavatar.motion.sources.diffusion:from_options",
        "FaceParams diffusion model (weights=FILE from save_motion_model)",
        frozenset(CONTROLS),
        options=("weights", "steps", "cfg", "stream", "model"),
        fps=25.0,
    ),
    "joyvasa": MotionSourceInfo(
        "pyavatar.motion.sources.joyvasa:from_options",
        "JoyVASA → LivePortrait keypoint motion (weights=.pt, template=.pkl, hubert_dir=DIR; neural renderer)",
        frozenset({"lip_scale", "gaze", "mute", "head_amplitude", "head_pose"}),
        produces=("keypoints", "face_params"),
        needs_portrait=True,
        options=("weights", "template", "hubert_dir", "steps", "cfg", "model"),
        fps=25.0,
    ),
    "video": MotionSourceInfo(
        "pyavatar.motion.sources.video:video_from_options",
        "face tracking from a driving video or a camera (driving=VIDEO or camera=INDEX|NAME)",
        frozenset({"lip_scale", "mute", "gaze", "head_amplitude", "head_pose"}),
        options=("driving", "camera", "frames", "neutral", "tracker"),
    ),
    "hybrid": MotionSourceInfo(
        "pyavatar.motion.sources.video:hybrid_from_options",
        "mouth from audio (dsp), head, eyes and brows from video (driving=VIDEO or camera=INDEX|NAME)",
        frozenset(CONTROLS),
        options=(
            "driving",
            "camera",
            "frames",
            "neutral",
            "tracker",
            "region_weights",
            "fallback",
            "profile",
            "lip_settings",
        ),
    ),
    "video-keypoints": MotionSourceInfo(
        "pyavatar.motion.sources.video_keypoints:from_options",
        "LivePortrait's motion extractor on each driving frame, relative to the first (neural renderer)",
        frozenset(),
        produces=("keypoints", "face_params"),
        needs_portrait=True,
        options=("driving", "camera", "frames", "neutral", "tracker"),
    ),
}


def register_motion_source(name: str, info: MotionSourceInfo) -> None:
    """Make ``name`` create motion sources as ``info`` says (replaces an existing registration)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"motion source name must be letters, digits, '-' or '_', got {name!r}")
    unknown = sorted(info.controls - set(CONTROLS))
    if unknown:
        raise ValueError(f"motion source {name!r}: unknown controls {unknown}; controls are {list(CONTROLS)}")
    _REGISTRY[name] = info


def motion_source_names() -> dict[str, str]:
    """Registered names and their descriptions."""
    return {name: info.description for name, info in _REGISTRY.items()}


def motion_source_info(name: str | None) -> MotionSourceInfo:
    """The registration of ``name`` (default :data:`DEFAULT_MOTION`); ValueError naming the choices otherwise."""
    name = name or DEFAULT_MOTION
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown motion source {name!r}; choose from {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def make_motion_source(
    name: str | None = None, *, fps: float, seed: int = 0, portrait: Any = None, **options: Any
) -> MotionSource:
    """A new motion source registered as ``name``; ``options`` go to its factory (unknown ones raise)."""
    name = name or DEFAULT_MOTION
    info = motion_source_info(name)
    extra = sorted(k for k, v in options.items() if k not in info.options and v is not None)
    if extra:
        raise ValueError(f"motion source {name!r} does not take {extra}; it takes {list(info.options)}")
    if info.needs_portrait and portrait is None:
        raise ValueError(
            f"motion source {name!r} drives LivePortrait keypoints and needs the neural renderer's "
            "portrait: use the neural renderer (--weights LP_DIR / renderer='neural')"
        )
    factory = info.factory
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    kwargs = {k: v for k, v in options.items() if v is not None}
    if info.needs_portrait:
        kwargs["portrait"] = portrait
    source = factory(fps=fps, seed=seed, **kwargs)
    if not isinstance(source, MotionSource) or frozenset(source.controls) != info.controls:
        raise TypeError(
            f"motion source {name!r}: the factory made {type(source).__name__}, which is not a "
            "MotionSource declaring the registered controls"
        )
    return source
