"""Streaming runtime: bounded queues, clock, pacer, metrics and control events (no torch, no domain code).

:class:`Pipeline` moves timestamped packets between duck-typed stages and typed sinks; the SDK
(:mod:`pyavatar.sdk`) wires the concrete audio, motion and render stages.
"""

from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import Clock, FakeClock, MonotonicClock
from pyavatar.runtime.control import (
    ControlEvent,
    Flush,
    Pause,
    SetEmotion,
    SetGaze,
    SetIntensity,
    SetLipScale,
    SetMute,
    Stop,
    SwapRenderer,
    from_osc,
)
from pyavatar.runtime.frames import StreamInfo, VideoFrame
from pyavatar.runtime.interpolate import MotionUpsampler
from pyavatar.runtime.metrics import Metrics
from pyavatar.runtime.pacer import Pacer
from pyavatar.runtime.pipeline import FrameRenderer, MotionProcessor, Pipeline, PipelineError, State
from pyavatar.runtime.queues import BoundedQueue, Policy, QueueClosed, QueueTimeout
from pyavatar.runtime.sinks import MotionSink, Sink, VideoSink, sink_roles

__all__ = [
    "BoundedQueue",
    "Clock",
    "ControlEvent",
    "FakeClock",
    "Flush",
    "FrameRenderer",
    "Metrics",
    "MonotonicClock",
    "MotionFrame",
    "MotionProcessor",
    "MotionSink",
    "MotionUpsampler",
    "Pacer",
    "Pause",
    "Pipeline",
    "PipelineError",
    "Policy",
    "QueueClosed",
    "QueueTimeout",
    "SetEmotion",
    "SetGaze",
    "SetIntensity",
    "SetLipScale",
    "SetMute",
    "Sink",
    "State",
    "Stop",
    "StreamInfo",
    "SwapRenderer",
    "VideoFrame",
    "VideoSink",
    "from_osc",
    "sink_roles",
]
