"""Outputs: virtual webcam, VMC / VTube Studio / raw OSC senders, OSC control input, video, PNG, callbacks, preview.

Video sinks (``write_video``, :class:`pyavatar.runtime.sinks.VideoSink`) receive
rendered frames from the pacer; motion sinks (``write_motion``,
:class:`pyavatar.runtime.sinks.MotionSink`) receive parameters and send them at
their own rate. Names load on first use, so importing this package stays light.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "CallbackSink": "pyavatar.outputs.callback",
    "FrameQueue": "pyavatar.outputs.callback",
    "MotionCallbackSink": "pyavatar.outputs.callback",
    "MotionFrameQueue": "pyavatar.outputs.callback",
    "ControlServer": "pyavatar.outputs.control_server",
    "PngSequenceSink": "pyavatar.outputs.video",
    "PreviewSink": "pyavatar.outputs.preview",
    "RawOscSender": "pyavatar.outputs.raw_osc",
    "VideoFileSink": "pyavatar.outputs.video",
    "VirtualCamError": "pyavatar.outputs.virtualcam",
    "VirtualCamSink": "pyavatar.outputs.virtualcam",
    "VmcSender": "pyavatar.outputs.vmc",
    "VTubeStudioDenied": "pyavatar.outputs.vtube_studio",
    "VTubeStudioError": "pyavatar.outputs.vtube_studio",
    "VTubeStudioSink": "pyavatar.outputs.vtube_studio",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyavatar.outputs' has no attribute {name!r}")
