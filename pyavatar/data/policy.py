"""Material reserved for held-out evaluation: the data tools refuse it as training input.

Reserved (never used to train or tune): the Italian and Russian Asterisk core
sounds, every ``asterisk-prompt-*`` package, Festival's HTS voices and its
non-English voices, and CMU ARCTIC recordings, including the flite voices built
from them (``awb``, ``rms``, ``slt``).
"""

from __future__ import annotations

import re

#: Synthesizer voices a data tool accepts, per engine.
ALLOWED_VOICES = {
    "mbrola": tuple(
        [f"us{i}" for i in (1, 2, 3)]
        + ["en1"]
        + [f"fr{i}" for i in range(1, 8)]
        + [f"es{i}" for i in range(1, 5)]
        + [f"de{i}" for i in range(1, 9)]
    ),
    "festival": ("kal_diphone",),
    "flite": ("kal", "kal16"),
}
_RESERVED_FLITE = {"awb", "awb_time", "rms", "slt"}
_RESERVED_PATH = [
    (re.compile(r"(^|/)(it|ru)([_/]|$)"), "the Italian and Russian Asterisk sounds"),
    (re.compile(r"asterisk-prompt-"), "the asterisk-prompt-* packages"),
    (re.compile(r"(^|[/_])arctic", re.I), "CMU ARCTIC recordings"),
    (re.compile(r"_hts([/_]|$)", re.I), "Festival's HTS voices"),
]


class HeldOutError(ValueError):
    """A data tool was asked to read material reserved for held-out evaluation."""


def check_voice(engine: str, voice: str) -> None:
    """Raise :class:`HeldOutError` unless ``voice`` of ``engine`` may be used for training."""
    if engine == "espeak-ng":
        return
    allowed = ALLOWED_VOICES.get(engine)
    if allowed is None:
        raise ValueError(f"unknown engine {engine!r}; use espeak-ng, mbrola, festival or flite")
    if voice not in allowed:
        if engine == "mbrola":  # not reserved, just a language without a shipped sentence list
            raise ValueError(
                f"mbrola voice {voice!r} is not supported (sentence lists ship for English, French, "
                f"Spanish and German only); choose from {list(allowed)}"
            )
        why = "built from CMU ARCTIC recordings" if voice in _RESERVED_FLITE else "not an allowed training voice"
        if engine == "festival":
            why = "HTS and non-English Festival voices are reserved"
        raise HeldOutError(f"{engine} voice {voice!r} is held out ({why}); training voices: {list(allowed)}")


def check_path(path: str) -> None:
    """Raise :class:`HeldOutError` when ``path`` names reserved material."""
    p = str(path).replace("\\", "/")
    for pattern, what in _RESERVED_PATH:
        if pattern.search(p):
            raise HeldOutError(f"{path}: {what} are reserved for held-out evaluation; pick another source")
