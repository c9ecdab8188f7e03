"""The session's motion stage: a registered motion source behind the runtime's motion-processor contract.

:func:`make_motion_stage` creates the source named by ``Session(motion=...)``
(:mod:`pyavatar.motion.registry`) and, for keypoint sources, binds it to the
neural renderer's prepared portrait (:class:`~pyavatar.sdk.keypoints.NeuralKeypointPortrait`: JoyVASA
composition for rendering, FaceParams read back through the LivePortrait
bridge for the classical renderer and the VMC/OSC outputs). :class:`MotionStage`
turns control events into the source's controls and refuses, naming the
source, any control the source cannot honour.
"""

from __future__ import annotations

from typing import Any

from pyavatar.motion.registry import MotionSource, make_motion_source, motion_source_info
from pyavatar.packets import AudioChunk, MotionFrame
from pyavatar.runtime import control as ctl
from pyavatar.sdk.stage import PreparedRenderer, keypoint_portrait


def control_of(event: Any) -> tuple[str, dict[str, Any]]:
    """The motion-source control ``(name, values)`` of a motion control event."""
    if isinstance(event, ctl.SetEmotion):
        return "emotion", {"name": event.name, "intensity": event.intensity, "upper": event.upper}
    if isinstance(event, ctl.SetIntensity):
        return "intensity", {"intensity": event.intensity}
    if isinstance(event, ctl.SetLipScale):
        return "lip_scale", {"scale": event.scale}
    if isinstance(event, ctl.SetGaze):
        return "gaze", {"yaw": event.yaw, "pitch": event.pitch}
    if isinstance(event, ctl.SetMute):
        return "mute", {"muted": bool(event.muted)}
    if isinstance(event, ctl.SetHeadAmplitude):
        return "head_amplitude", {"amplitude": event.amplitude}
    if isinstance(event, ctl.SetHeadPose):
        return "head_pose", {"pitch": event.pitch, "yaw": event.yaw, "roll": event.roll}
    if isinstance(event, ctl.SetRegionWeight):
        return "region_weight", {"region": event.region, "weight": event.weight}
    raise ValueError(f"not a motion control event: {event!r}")


class MotionStage:
    """The pipeline's motion processor over a :class:`~pyavatar.motion.registry.MotionSource`."""

    def __init__(self, source: MotionSource) -> None:
        self.source = source
        self.fps = float(source.fps)

    @property
    def name(self) -> str:
        """The source's registry name."""
        return self.source.name

    @property
    def latency_s(self) -> float:
        """The source's algorithmic latency."""
        return self.source.latency_s

    def process(self, chunk: AudioChunk, live: bool) -> list[MotionFrame]:
        """Audio chunk → the source's motion frames (``live``: streaming, may return none yet)."""
        return self.source.process(chunk, live)

    def flush(self) -> list[MotionFrame]:
        """The motion frames still held at the end of the stream."""
        return self.source.flush()

    def reset(self) -> None:
        """Forget the stream (a new one starts)."""
        self.source.reset()

    def check_control(self, event: Any) -> None:
        """ValueError (naming the source) if the source cannot honour ``event``."""
        self.source.check_control(*control_of(event))

    def apply_control(self, event: Any) -> None:
        """Apply a control event (raises naming the source when it cannot honour it)."""
        self.source.apply_control(*control_of(event))

    def stats(self) -> dict[str, Any]:
        """The source's statistics (latency, per-window times)."""
        return self.source.stats()

    def close(self) -> None:
        """Stop the source's worker, if it has one."""
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def make_motion_stage(
    prepared: PreparedRenderer,
    motion: str | MotionSource | None = None,
    *,
    fps: float,
    seed: int = 0,
    emotion: str = "neutral",
    intensity: float = 1.0,
    lip_scale: float = 1.0,
    head_amplitude: float = 1.0,
    gaze: tuple[float, float] | None = None,
    expression: Any = None,
    **options: Any,
) -> MotionStage:
    """The motion stage of a session: source ``motion`` (registry name, default ``dsp``, or a source object).

    The starting controls that differ from the defaults are applied as controls, so a source that cannot
    honour one fails here, naming itself, before any audio is processed. Registered sources are created
    with ``fps`` (or the source's own fixed rate, which the pipeline interpolates to ``fps``), ``seed`` and
    ``options`` (``weights``, ``template``, ``hubert_dir``, ``steps``, ``cfg``, ``profile``, ...).
    ``expression``: a :class:`~pyavatar.motion.sources.expression.ReferenceExpression` added to every frame.
    """
    if motion is None or isinstance(motion, str):
        info = motion_source_info(motion)
        rate = fps if info.fps is None else info.fps
        portrait = keypoint_portrait(prepared) if info.needs_portrait else None
        source = make_motion_source(motion, fps=rate, seed=seed, portrait=portrait, **options)
    elif options:
        raise ValueError("motion options are only used with a motion source name")
    else:
        source = motion
    if expression is not None:
        from pyavatar.motion.sources.expression import ExpressionOffset

        source = ExpressionOffset(source, expression)
    stage = MotionStage(source)
    events = []
    if emotion != "neutral":
        events.append(ctl.SetEmotion(emotion, intensity))
    elif intensity != 1.0 and "intensity" in source.controls:
        events.append(ctl.SetIntensity(intensity))
    if lip_scale != 1.0:
        events.append(ctl.SetLipScale(lip_scale))
    if head_amplitude != 1.0:
        events.append(ctl.SetHeadAmplitude(head_amplitude))
    if gaze is not None:
        events.append(ctl.SetGaze(*gaze))
    for event in events:
        stage.apply_control(event)
    jump = getattr(source, "jump_emotion", None)
    if jump is not None:
        jump()
    return stage
