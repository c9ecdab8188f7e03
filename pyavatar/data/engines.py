"""Speech synthesizers with exact phone timings: espeak-ng, Festival and flite.

- espeak-ng: libespeak-ng phoneme events (:class:`pyavatar.evaluation.espeak.Espeak`),
  with the evaluation harness's acoustic boundary refinement.
- Festival: ``festival --batch`` runs a Scheme expression that synthesizes with
  ``kal_diphone`` and prints each item of the ``Segment`` relation with its end time.
- flite: ``flite -psdur`` prints ``phone:end`` pairs.

Every engine returns IPA phones (see :mod:`pyavatar.data.phonesets`); a rate
factor > 1 speaks slower (longer durations), ``pitch`` moves the mean F0.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyavatar.data.phonesets import UnmappedPhone, to_ipa
from pyavatar.data.policy import check_voice
from pyavatar.evaluation.espeak import Espeak, Phone
from pyavatar.evaluation.synthetic import BoundaryStats, refine_boundaries

ENGINES = ("espeak-ng", "festival", "flite")
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
    "festival": ("kal_diphone",),
    "flite": ("kal", "kal16"),
}


@dataclass
class Speech:
    """Synthesized audio (float32 mono), its rate, IPA phones and the phones no table knew."""

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]
    unmapped: list[str]


class SynthError(RuntimeError):
    """A synthesizer is missing or failed."""


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
    phones = refine_boundaries(utt.phones, utt.samples, utt.sample_rate, stats or BoundaryStats())
    unmapped = []
    for p in phones:
        try:
            to_ipa("ipa", p.name)
        except UnmappedPhone:
            unmapped.append(f"ipa:{p.name}")
    phones = [Phone("" if f"ipa:{p.name}" in unmapped else p.name, p.start, p.end) for p in phones]
    return Speech(utt.samples, utt.sample_rate, phones, unmapped)


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
    """Dispatch to :func:`espeak`, :func:`festival` or :func:`flite`."""
    if engine == "espeak-ng":
        return espeak(text, voice, rate=rate, pitch=pitch)
    if engine == "festival":
        return festival(text, voice, rate=rate, pitch=pitch)
    if engine == "flite":
        return flite(text, voice, rate=rate, pitch=pitch)
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
