"""Audio input and speech features (stage 1 of audio → motion → render → outputs)."""

from pyavatar.audio.analyzer import SpeechAnalyzer, analyze
from pyavatar.audio.mic import MicSource, list_input_devices
from pyavatar.audio.resample import Resampler
from pyavatar.audio.sources import (
    ArraySource,
    AudioDeviceError,
    AudioSource,
    AudioSourceError,
    FileSource,
    PushSource,
)

__all__ = [
    "ArraySource",
    "AudioDeviceError",
    "AudioSource",
    "AudioSourceError",
    "FileSource",
    "MicSource",
    "PushSource",
    "Resampler",
    "SpeechAnalyzer",
    "analyze",
    "list_input_devices",
]
