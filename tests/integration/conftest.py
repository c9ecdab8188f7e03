"""Integration fixtures: the PulseAudio virtual microphone of tests/audio (loaded from its file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "pyavatar_tests_audio_conftest", Path(__file__).resolve().parents[1] / "audio" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_audio = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _audio  # dataclasses look their module up
_spec.loader.exec_module(_audio)

virtual_mic = _audio.virtual_mic
VirtualMic = _audio.VirtualMic
