"""Speech synthesizers with exact phone timings: espeak-ng, MBROLA, Festival and flite.

- espeak-ng: libespeak-ng phoneme events (:class:`pyavatar.evaluation.espeak.Espeak`),
  with the evaluation harness's acoustic boundary refinement.
- MBROLA: diphone voices recorded from real speakers, driven by libespeak-ng (voice
  ``mb-<name>``), so the phones and their timings are espeak-ng's (moved back by the
  leading pause MBROLA does not render, see :mod:`pyavatar.evaluation.espeak`). A voice
  that lacks a diphone replaces it with silence; such an utterance raises :class:`MissingDiphones`.
- Festival: ``festival --batch`` runs a Scheme expression that synthesizes with
  ``kal_diphone`` and prints each item of the ``Segment`` relation with its end time.
- flite: ``flite -psdur`` prints ``phone:end`` pairs.

Every engine returns IPA phones (see :mod:`pyavatar.data.phonesets`); a rate
factor > 1 speaks slower (longer durations), ``pitch`` moves the mean F0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyavatar.data.phonesets import UnmappedPhone, to_ipa
from pyavatar.data.policy import check_voice
from pyavatar.evaluation.espeak import Espeak, Phone
from pyavatar.evaluation.synthetic import BoundaryStats, refine_boundaries

ENGINES = ("espeak-ng", "mbrola", "festival", "flite")
#: Voices drawn at random per engine (all allowed by :mod:`pyavatar.data.policy`).
VOICES = {
    "espeak-ng": (
        "en-us+m1",
        "en-us+f2",
        "en+m3",
        "en+f4",
        "en-us+m7",
        "es+m2",
        "es+f3",
        "fr+m4",
        "fr+f1",
        "de+m5",
        "de+f5",
    ),
    # MBROLA voices whose diphone sets cover espeak-ng's phones for the shipped sentences
    # (us3 and the Spanish voices lack some and are left out of the default draw).
    "mbrola": ("us1", "us2", "en1", "fr1", "fr2", "fr3", "fr4", "fr6", "de1", "de2", "de3", "de4", "de5", "de6"),
    "festival": ("kal_diphone",),
    "flite": ("kal", "kal16"),
}
#: Where Debian's ``mbrola-*`` packages put their diphone databases.
MBROLA_DIR = Path("/usr/share/mbrola")


@dataclass
class Speech:
    """Synthesized audio (float32 mono), its rate, IPA phones and the phones no table knew."""

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]
    unmapped: list[str]


class SynthError(RuntimeError):
    """A synthesizer is missing or failed."""


class MissingDiphones(SynthError):
    """An MBROLA voice lacks diphones the text needs (it would speak silence there)."""


#: Draws of a voice and text before a tool gives up on voices that keep lacking diphones.
MAX_DRAWS = 20


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise SynthError(f"{binary} not found; install the Debian package {package}")
    return path


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1), int(sr)


def _from_ends(names: list[str], ends: list[float], duration: float, phone_set: str) -> tuple[list[Phone], list[str]]:
    phones, unmapped, t = [], [], 0.0
    for name, end in zip(names, ends):
        end = min(end, duration)
        try:
            ipa = to_ipa(phone_set, name)
        except UnmappedPhone:
            unmapped.append(f"{phone_set}:{name}")
            ipa = ""
        if end > t:
            phones.append(Phone(ipa, t, end))
        t = max(t, end)
    return phones, unmapped


def espeak(text: str, voice: str, *, rate: float = 1.0, pitch: int = 50, stats: BoundaryStats | None = None) -> Speech:
    """espeak-ng: ``rate`` scales the 165 wpm default (inverse: > 1 is slower)."""
    utt = Espeak().synthesize(text, voice, wpm=int(round(165 / rate)), pitch=pitch)
    return _refined(utt.samples, utt.sample_rate, utt.phones, stats)


def mbrola(text: str, voice: str, *, rate: float = 1.0, pitch: int = 50, stats: BoundaryStats | None = None) -> Speech:
    """MBROLA ``voice`` (such as ``us1`` or ``fr4``) through libespeak-ng; ``rate`` and ``pitch`` as :func:`espeak`."""
    check_voice("mbrola", voice)
    _need("mbrola", "mbrola (Debian contrib)")
    if not (MBROLA_DIR / voice / voice).is_file():
        raise SynthError(f"MBROLA voice {voice!r} not found in {MBROLA_DIR}; install the Debian package mbrola-{voice}")
    with _stderr_captured() as log:
        utt = Espeak().synthesize(text, f"mb-{voice}", wpm=int(round(165 / rate)), pitch=pitch)
    missing = [ln for ln in log if "unknown" in ln]
    if missing:
        raise MissingDiphones(f"MBROLA voice {voice!r} lacks diphones for {text!r}: {missing[0].strip()}")
    return _refined(utt.samples, utt.sample_rate, utt.phones, stats)


@contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Collect what is written to file descriptor 2 (where libespeak-ng relays ``mbrola``'s messages)."""
    lines: list[str] = []
    with tempfile.TemporaryFile() as f:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            lines += f.read().decode("utf-8", "replace").splitlines()


def installed_mbrola_voices(voices: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Those of ``voices`` (default: the default draw) whose diphone database is installed."""
    return [v for v in (voices or VOICES["mbrola"]) if (MBROLA_DIR / v / v).is_file()]


def _refined(samples: np.ndarray, sample_rate: int, phones: list[Phone], stats: BoundaryStats | None) -> Speech:
    """Refine espeak-ng phone boundaries on the audio and blank the phones no table knows."""
    phones = refine_boundaries(phones, samples, sample_rate, stats or BoundaryStats())
    unmapped = []
    for p in phones:
        try:
            to_ipa("ipa", p.name)
        except UnmappedPhone:
            unmapped.append(f"ipa:{p.name}")
    phones = [Phone("" if f"ipa:{p.name}" in unmapped else p.name, p.start, p.end) for p in phones]
    return Speech(samples, sample_rate, phones, unmapped)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def festival(text: str, voice: str = "kal_diphone", *, rate: float = 1.0, pitch: int = 105) -> Speech:
    """Festival with ``voice`` (only ``kal_diphone`` is allowed for training); ``pitch`` is the mean F0 in Hz."""
    check_voice("festival", voice)
    exe = _need("festival", "festival festvox-kallpc16k")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        scm = (
            f"(begin (voice_{voice}) (Parameter.set 'Duration_Stretch {rate:.3f}) "
            f"(set! int_lr_params (list (list 'target_f0_mean {pitch}) (list 'target_f0_std {pitch * 0.15:.1f}) "
            f"(list 'model_f0_mean 170) (list 'model_f0_std 34))) "
            f"(set! u (utt.synth (Utterance Text {_quote(text)}))) (utt.save.wave u {_quote(str(wav))} 'riff) "
            '(mapcar (lambda (s) (format t "%s %f\\n" (item.name s) (item.feat s "end"))) '
            "(utt.relation.items u 'Segment)))"
        )
        proc = subprocess.run([exe, "--batch", scm], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not wav.is_file():
            raise SynthError(f"festival failed for {text!r}: {proc.stderr.strip()[-300:]}")
        x, sr = _read_wav(wav)
    rows = [ln.split() for ln in proc.stdout.splitlines() if len(ln.split()) == 2]
    phones, unmapped = _from_ends([r[0] for r in rows], [float(r[1]) for r in rows], len(x) / sr, "radio")
    return Speech(x, sr, phones, unmapped)


def flite(text: str, voice: str = "kal16", *, rate: float = 1.0, pitch: int = 100) -> Speech:
    """Flite with ``voice`` (``kal`` or ``kal16``); ``pitch`` is the target mean F0 in Hz."""
    check_voice("flite", voice)
    exe = _need("flite", "flite")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [
            exe,
            "-voice",
            voice,
            "--setf",
            f"duration_stretch={rate:.3f}",
            "--setf",
            f"int_f0_target_mean={pitch}",
            "-psdur",
            "-t",
            text,
            "-o",
            str(wav),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not wav.is_file():
            raise SynthError(f"flite failed for {text!r}: {proc.stderr.strip()[-300:]}")
        x, sr = _read_wav(wav)
    pairs = [tok.rsplit(":", 1) for tok in proc.stdout.split() if ":" in tok]
    phones, unmapped = _from_ends([p[0] for p in pairs], [float(p[1]) for p in pairs], len(x) / sr, "cmu")
    return Speech(x, sr, phones, unmapped)


def synthesize(engine: str, text: str, voice: str, *, rate: float, pitch: int) -> Speech:
    """Dispatch to :func:`espeak`, :func:`mbrola`, :func:`festival` or :func:`flite`."""
    if engine == "espeak-ng":
        return espeak(text, voice, rate=rate, pitch=pitch)
    if engine == "mbrola":
        return mbrola(text, voice, rate=rate, pitch=pitch)
    if engine == "festival":
        return festival(text, voice, rate=rate, pitch=pitch)
    if engine == "flite":
        return flite(text, voice, rate=rate, pitch=pitch)
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
