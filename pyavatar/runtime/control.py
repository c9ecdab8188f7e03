"""Control events: out-of-band commands that jump the data queues.

Send them with :meth:`pyavatar.runtime.pipeline.Pipeline.send`; each applies
from the next frame its stage produces. :func:`from_osc` turns a
``/pyavatar/set/*`` OSC message into an event (or raises :class:`ValueError`
naming what is wrong).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

OSC_PREFIX = "/pyavatar/set/"
#: What a renderer name in a control message may look like (the receiver still checks it is registered).
RENDERER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: What a face region name in a control message may look like (the motion source checks it is one of its regions).
REGION_NAME = re.compile(r"[a-z_]{1,32}")


def _finite(name: str, value: float, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be within {lo}..{hi}, got {value}")
    return value


@dataclass(frozen=True)
class SetEmotion:
    """Aim at emotion ``name`` (mouth and upper face; ``upper`` overrides the upper face)."""

    name: str
    intensity: float = 1.0
    upper: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"emotion name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "intensity", _finite("intensity", self.intensity, 0.0, 1.0))


@dataclass(frozen=True)
class SetIntensity:
    """Change the intensity of the current emotion (0..1)."""

    intensity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "intensity", _finite("intensity", self.intensity, 0.0, 1.0))


@dataclass(frozen=True)
class SetLipScale:
    """Scale mouth opening and visemes (0..3; 1 = as analysed)."""

    scale: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _finite("lip_scale", self.scale, 0.0, 3.0))


@dataclass(frozen=True)
class SetGaze:
    """Hold the eyes at ``yaw``/``pitch`` degrees (-45..45); both None returns gaze to idle motion."""

    yaw: float | None
    pitch: float | None = 0.0

    def __post_init__(self) -> None:
        if (self.yaw is None) != (self.pitch is None):
            raise ValueError("gaze: give both yaw and pitch, or neither to release the gaze")
        if self.yaw is not None:
            object.__setattr__(self, "yaw", _finite("gaze yaw", self.yaw, -45.0, 45.0))
            object.__setattr__(self, "pitch", _finite("gaze pitch", self.pitch, -45.0, 45.0))  # type: ignore[arg-type]


@dataclass(frozen=True)
class SetMute:
    """Close the mouth whatever the audio says (True) or follow the audio again (False)."""

    muted: bool


@dataclass(frozen=True)
class SetHeadAmplitude:
    """Scale head-pose motion around the reference pose (0..3; 0 = hold the reference, 1 = as generated)."""

    amplitude: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "amplitude", _finite("head amplitude", self.amplitude, 0.0, 3.0))


@dataclass(frozen=True)
class SetHeadPose:
    """Reference head pose ``pitch``/``yaw``/``roll`` degrees (-45..45) the head moves around; all None releases."""

    pitch: float | None
    yaw: float | None = 0.0
    roll: float | None = 0.0

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.pitch, self.yaw, self.roll)]
        if any(given) and not all(given):
            raise ValueError("head pose: give pitch, yaw and roll, or none to release the pose")
        if all(given):
            for name in ("pitch", "yaw", "roll"):
                object.__setattr__(self, name, _finite(f"head {name}", getattr(self, name), -45.0, 45.0))


@dataclass(frozen=True)
class SetRegionWeight:
    """Hybrid motion: the video's share (0..1; 0 = audio, 1 = video) of face region ``region``."""

    region: str
    weight: float

    def __post_init__(self) -> None:
        if not isinstance(self.region, str) or not REGION_NAME.fullmatch(self.region):
            raise ValueError(f"region weight: {str(self.region)[:80]!r} is not a face region name")
        object.__setattr__(self, "weight", _finite(f"region weight {self.region}", self.weight, 0.0, 1.0))


@dataclass(frozen=True)
class SwapRenderer:
    """Render with another renderer from the next frame: a registry name or a FaceRenderer object."""

    renderer: Any
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Pause:
    """Hold the current frame (True) or continue from live audio (False)."""

    paused: bool


@dataclass(frozen=True)
class Flush:
    """Discard queued audio, motion and frames; continue from the newest audio."""


@dataclass(frozen=True)
class Stop:
    """End the session."""


ControlEvent = (
    SetEmotion
    | SetIntensity
    | SetLipScale
    | SetGaze
    | SetMute
    | SetHeadAmplitude
    | SetHeadPose
    | SetRegionWeight
    | SwapRenderer
    | Pause
    | Flush
    | Stop
)
#: Events that the motion stage applies.
MOTION_EVENTS = (
    SetEmotion,
    SetIntensity,
    SetLipScale,
    SetGaze,
    SetMute,
    SetHeadAmplitude,
    SetHeadPose,
    SetRegionWeight,
)


def _flag(name: str, args: list[Any]) -> bool:
    if len(args) != 1:
        raise ValueError(f"{name}: expected one argument (0/1, true/false), got {len(args)}")
    v = args[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"{name}: expected 0/1 or true/false, got {v!r}")


def _numbers(name: str, args: list[Any], n: int) -> list[float]:
    if len(args) != n:
        raise ValueError(f"{name}: expected {n} number(s), got {len(args)} argument(s)")
    return [_finite(name, a) for a in args]


def from_osc(address: str, args: list[Any]) -> ControlEvent:
    """The event of a ``/pyavatar/set/<control>`` message.

    Controls: ``emotion s [f]``, ``intensity f``, ``lip_scale f``, ``gaze f f`` (no
    arguments: release), ``mute b``, ``head_amplitude f``, ``head_pose f f f`` (pitch, yaw,
    roll; no arguments: release), ``region_weight s f`` (hybrid motion: a face region and
    the video's share 0..1), ``pause b``, ``renderer s``, ``flush``, ``stop`` (numbers may
    be int or float; ``b`` is 0/1 or OSC true/false). A renderer is selected by name only:
    ``module:Factory`` strings and options are refused here.
    """
    if not address.startswith(OSC_PREFIX):
        raise ValueError(f"not a control address: {address!r} (expected {OSC_PREFIX}...)")
    what = address[len(OSC_PREFIX) :]
    if what == "emotion":
        if not 1 <= len(args) <= 2 or not isinstance(args[0], str):
            raise ValueError("emotion: expected a name and optionally an intensity")
        (intensity,) = _numbers("emotion intensity", args[1:], 1) if len(args) == 2 else (1.0,)
        return SetEmotion(args[0], intensity)
    if what == "intensity":
        return SetIntensity(*_numbers(what, args, 1))
    if what == "lip_scale":
        return SetLipScale(*_numbers(what, args, 1))
    if what == "gaze":
        return SetGaze(None, None) if not args else SetGaze(*_numbers(what, args, 2))
    if what == "mute":
        return SetMute(_flag(what, args))
    if what == "head_amplitude":
        return SetHeadAmplitude(*_numbers(what, args, 1))
    if what == "head_pose":
        return SetHeadPose(None, None, None) if not args else SetHeadPose(*_numbers(what, args, 3))
    if what == "region_weight":
        if len(args) != 2 or not isinstance(args[0], str):
            raise ValueError("region_weight: expected a region name and a weight 0..1")
        return SetRegionWeight(args[0], *_numbers("region weight", args[1:], 1))
    if what == "pause":
        return Pause(_flag(what, args))
    if what == "renderer":
        if len(args) != 1 or not isinstance(args[0], str):
            raise ValueError("renderer: expected one name")
        if not RENDERER_NAME.fullmatch(args[0]):
            raise ValueError(
                f"renderer: {args[0][:80]!r} is not a renderer name (registered names only; "
                "'module:Factory' is for code, not for control messages)"
            )
        return SwapRenderer(args[0])
    if what in ("flush", "stop"):
        if args:
            raise ValueError(f"{what}: expected no arguments, got {len(args)}")
        return Flush() if what == "flush" else Stop()
    raise ValueError(f"unknown control {what!r} (address {address!r})")
