"""ctypes binding to libespeak-ng: synthesize text and get IPA phoneme timings.

Uses the synchronous output mode with phoneme events (``espeakEVENT_PHONEME``
with IPA names); each event marks where a phoneme starts in the generated
audio. MBROLA voices (``mb-*``) are the exception: their events count a leading
pause (40-60 ms) that MBROLA does not render (its audio starts with the first
phone of espeak-ng's ``--pho`` output), so their events are moved back by it.
libespeak-ng keeps global state, so calls are serialised by a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_EVENT_MSG_TERMINATED = 6
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH = 1, 3


class EspeakError(RuntimeError):
    """libespeak-ng is missing or refused a request."""


class _Event(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes layout of espeak_EVENT
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Phone:
    """One phoneme: IPA ``name`` ('' for a pause) from ``start`` to ``end`` seconds."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """Synthesized speech: int16-range float32 ``samples`` in [-1, 1] at ``sample_rate`` and its phones."""

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]


class Espeak:
    """The process-wide libespeak-ng instance (construct freely; initialisation happens once)."""

    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None

    def __init__(self) -> None:
        with Espeak._lock:
            if Espeak._lib is None:
                Espeak._lib = self._load()
        self._audio: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []  # (sample or 0, milliseconds, IPA name)

    @staticmethod
    def _load() -> ctypes.CDLL:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise EspeakError(f"libespeak-ng not found ({e}); install espeak-ng (Debian: libespeak-ng1)") from e
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_ng_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        u, p = ctypes.c_uint, ctypes.c_void_p
        lib.espeak_ng_Synthesize.argtypes = [p, ctypes.c_size_t, u, ctypes.c_int, u, u, p, p]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_ng_GetSampleRate.restype = ctypes.c_int
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, options)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate})")
        return lib

    def _on_audio(self, wav: ctypes.Array, n: int, events: ctypes.Array) -> int:
        if wav and n > 0:
            self._audio.append(np.ctypeslib.as_array(wav, (n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                name = bytes(ev.id).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((ev.sample, ev.audio_position, name))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str = "en-us", *, wpm: int = 165, pitch: int = 50) -> Utterance:
        """Speak ``text`` with ``voice`` (an espeak-ng voice name such as ``en-us+f2``)."""
        lib = Espeak._lib
        assert lib is not None
        with Espeak._lock:
            self._audio, self._events = [], []
            callback = _Callback(self._on_audio)
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_ng_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng voice not found: {voice!r}")
            lib.espeak_ng_SetParameter(_PARAM_RATE, int(wpm), 0)
            lib.espeak_ng_SetParameter(_PARAM_PITCH, int(pitch), 0)
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_ng_Synthesize(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise EspeakError(f"espeak_ng_Synthesize failed with status {status:#x} for voice {voice!r}")
            lib.espeak_ng_Synchronize()
            rate = int(lib.espeak_ng_GetSampleRate())
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)
            events = sorted((pos if pos > 0 else round(ms * rate / 1000), name) for pos, ms, name in self._events)
        if voice.startswith("mb-") and events:  # MBROLA renders from the first phone: no leading pause
            events = [(pos - events[0][0], name) for pos, name in events]
        n = len(audio)
        phones = []
        for j, (pos, name) in enumerate(events):
            end = min(events[j + 1][0] if j + 1 < len(events) else n, n)  # MBROLA may stop short of the last events
            if end > pos:
                phones.append(Phone(name, pos / rate, end / rate))
        return Utterance(audio, rate, phones)
