"""Build a synthetic lip-sync evaluation set with espeak-ng.

Each utterance is one or two sentences spoken by one voice, with silence
padding (0.3-0.8 s) around it and a pause (0.15-0.6 s) between sentences.
Phone timings come from libespeak-ng's phoneme events and are then checked
against the audio: espeak marks the start of a stop at its release, so the
silent closure would count as part of the preceding vowel (typically 30-40 ms
too long); such boundaries move to the steepest energy drop within 60 ms
before (15 ms after) the mark, and the edges of pauses, which espeak also
marks up to tens of ms early or late, move to the last drop / first rise of
at least 10 dB within 60 ms. References follow
:func:`pyavatar.evaluation.dataset.reference_from_phones`. A fraction of the
files gets additive noise (white or pink, 5-20 dB SNR) and a synthetic room
reverb; all get a random gain and speaking rate.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyavatar.evaluation.dataset import reference_from_phones, save_item
from pyavatar.evaluation.espeak import Espeak, Phone
from pyavatar.evaluation.phonemes import is_stop

CORPUS: dict[str, list[str]] = {
    "en": [
        "The morning train was late again, so we walked along the river.",
        "Could you pass me the blue cup on the top shelf?",
        "My brother fixed the old bike and rode it to the market.",
        "It rained all afternoon, but the garden looks happy now.",
        "We should book the tickets before the prices go up.",
        "A small dog barked at the postman every single day.",
        "She opened the window and listened to the birds outside.",
        "Nobody knew who had eaten the last piece of cake.",
        "The museum is closed on Mondays and most holidays.",
        "He painted the fence white and the door dark green.",
        "Our neighbours are moving to a quiet town by the sea.",
        "Turn left at the bakery and you will see the park.",
    ],
    "de": [
        "Am Wochenende fahren wir mit dem Zug an die Ostsee.",
        "Kannst du mir bitte das Salz und den Pfeffer geben?",
        "Der alte Mann füttert jeden Morgen die Tauben im Park.",
        "Heute ist das Wetter schön, also gehen wir spazieren.",
        "Meine Schwester lernt Geige und übt jeden Abend.",
        "Im Sommer blühen die Rosen vor unserem Haus.",
        "Wir haben den Kuchen schon gestern gebacken.",
        "Der Bus kommt leider erst in zwanzig Minuten.",
        "Die Kinder spielen mit dem Ball am Strand.",
        "Er liest gern Bücher über Geschichte und Reisen.",
    ],
    "es": [
        "Mañana vamos a visitar a mis abuelos en el pueblo.",
        "¿Me puedes decir dónde está la biblioteca?",
        "El gato duerme todo el día encima del sofá.",
        "Compramos pan, queso y fruta en el mercado.",
        "Mi hermana toca la guitarra los domingos.",
        "Hace mucho calor, vamos a nadar en el río.",
        "El tren sale a las ocho de la mañana.",
        "Los niños juegan al fútbol después de clase.",
        "La cena está lista, todos a la mesa.",
        "Este libro cuenta la historia de un marinero.",
    ],
    "fr": [
        "Nous allons au marché tous les samedis matin.",
        "Peux-tu fermer la porte, s'il te plaît?",
        "Le chat dort au soleil sur le balcon.",
        "Ma tante prépare une tarte aux pommes délicieuse.",
        "Il fait beau aujourd'hui, allons au parc.",
        "Le train pour Lyon part dans dix minutes.",
        "Les enfants chantent une chanson à l'école.",
        "Mon frère a acheté un vélo rouge.",
    ],
}

_SEARCH_S = 0.06
_MIN_STEP_DB = 10.0


def language_of(voice: str) -> str:
    """Corpus language of an espeak voice name (``de+f2`` → ``de``)."""
    lang = voice.split("+")[0].split("-")[0].lower()
    if lang not in CORPUS:
        raise ValueError(f"voice {voice!r}: no corpus for language {lang!r}; have {sorted(CORPUS)}")
    return lang


def _energy_db(samples: np.ndarray, sr: int, hop_s: float = 0.0025, win_s: float = 0.005) -> np.ndarray:
    hop, win = max(1, int(sr * hop_s)), max(1, int(sr * win_s))
    padded = np.pad(samples.astype(np.float64), (win // 2, win))
    idx = np.arange(0, len(samples), hop)
    sq = np.concatenate([[0.0], np.cumsum(padded**2)])
    return 10 * np.log10((sq[idx + win] - sq[idx]) / win + 1e-10)


@dataclass
class BoundaryStats:
    """How many phone boundaries were checked against the audio and how far they moved."""

    checked: int = 0
    moved: int = 0
    total_shift_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The counts and the mean absolute shift (ms), for a JSON report."""
        mean = self.total_shift_ms / self.moved if self.moved else 0.0
        return {"checked": self.checked, "moved": self.moved, "mean_abs_shift_ms": round(mean, 1)}


def refine_boundaries(phones: list[Phone], samples: np.ndarray, sr: int, stats: BoundaryStats) -> list[Phone]:
    """Move sound→closure/pause boundaries to the energy drop and pause→sound ones to the rise."""
    hop = 0.0025
    e = _energy_db(samples, sr, hop)
    d = np.zeros_like(e)
    d[2:-2] = e[4:] - e[:-4]  # 10 ms energy step
    out = list(phones)
    for j in range(len(out) - 1):
        a, b = out[j], out[j + 1]
        falling = a.name and (not b.name or is_stop(b.name)) and not is_stop(a.name)
        rising = not a.name and b.name
        if not (falling or rising):
            continue
        stats.checked += 1
        into_stop = bool(falling and b.name)
        lo = max(int((b.start - _SEARCH_S) / hop), int(a.start / hop) + 4)
        hi = min(int((b.start + (0.015 if into_stop else _SEARCH_S)) / hop), int(b.end / hop) - 2)
        if hi <= lo:
            continue
        seg = -d[lo:hi] if falling else d[lo:hi]
        steps = np.flatnonzero(seg >= _MIN_STEP_DB)
        if not len(steps):
            continue
        if into_stop:  # the closure starts at the steepest drop
            k = int(np.argmax(seg))
        else:  # sound fades into a pause at the last drop, and starts from one at the first rise
            k = int(steps[-1] if falling else steps[0])
        t = (lo + k) * hop
        if abs(t - b.start) >= 0.005:
            stats.moved += 1
            stats.total_shift_ms += abs(t - b.start) * 1000
            out[j] = Phone(a.name, a.start, t)
            out[j + 1] = Phone(b.name, t, b.end)
    return out


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-variance 1/f noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` through a random exponentially decaying room response (``rt60`` s), level kept."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0 / 0.3  # direct sound dominates
    ir *= 0.3
    y = np.fft.irfft(np.fft.rfft(x, len(x) + n) * np.fft.rfft(ir, len(x) + n), len(x) + n)[: len(x)]
    return y * (np.std(x) / (np.std(y) + 1e-12))


def sox_tempo(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """``x`` played ``factor`` times faster with pitch kept (``sox tempo -s``)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, x, sr, subtype="FLOAT")
        subprocess.run(["sox", str(src), str(dst), "tempo", "-s", f"{factor:.3f}"], check=True, capture_output=True)
        y, _ = sf.read(dst, dtype="float32")
    return y


def make_utterance(
    espeak: Espeak, voice: str, rng: np.random.Generator, *, noisy: bool, tempo: bool, stats: BoundaryStats
) -> tuple[np.ndarray, int, list[tuple[str, float, float]], dict]:
    """Audio, sample rate, refined phones and metadata of one random utterance."""
    lang = language_of(voice)
    n_sent = int(rng.integers(1, 3))
    texts = [str(t) for t in rng.choice(CORPUS[lang], size=n_sent, replace=False)]
    wpm = int(rng.integers(140, 191))
    utts = [espeak.synthesize(text, voice, wpm=wpm) for text in texts]
    sr = utts[0].sample_rate
    pieces: list[np.ndarray] = []
    phones: list[tuple[str, float, float]] = []
    t = float(rng.uniform(0.3, 0.8))
    pieces.append(np.zeros(int(t * sr), np.float32))
    for i, utt in enumerate(utts):
        if i:
            gap = float(rng.uniform(0.15, 0.6))
            pieces.append(np.zeros(int(gap * sr), np.float32))
            t += len(pieces[-1]) / sr
        refined = refine_boundaries(utt.phones, utt.samples, sr, stats)
        phones += [(p.name, t + p.start, t + p.end) for p in refined if p.name]
        pieces.append(utt.samples)
        t += len(utt.samples) / sr
    pieces.append(np.zeros(int(rng.uniform(0.3, 0.8) * sr), np.float32))
    x = np.concatenate(pieces).astype(np.float64)
    meta: dict = {"voice": voice, "language": lang, "text": " ".join(texts), "wpm": wpm}
    if tempo and shutil.which("sox"):
        factor = float(rng.uniform(0.85, 1.15))
        x = sox_tempo(x.astype(np.float32), sr, factor).astype(np.float64)
        phones = [(n, a / factor, b / factor) for n, a, b in phones]
        meta["tempo"] = round(factor, 3)
    if noisy:
        rt60 = float(rng.uniform(0.2, 0.5))
        x = reverb(x, sr, rt60, rng)
        kind = str(rng.choice(["white", "pink"]))
        noise = rng.standard_normal(len(x)) if kind == "white" else pink_noise(len(x), rng)
        speech_rms = np.sqrt(np.mean(x[np.abs(x) > 1e-4] ** 2))
        snr = float(rng.uniform(5, 20))
        x = x + noise * speech_rms / 10 ** (snr / 20)
        meta.update(noise=kind, snr_db=round(snr, 1), rt60_s=round(rt60, 2))
    gain_db = float(rng.uniform(-12, 3))
    x = x * 10 ** (gain_db / 20)
    peak = np.abs(x).max()
    if peak > 0.98:
        x *= 0.98 / peak
        gain_db -= 20 * np.log10(peak / 0.98)
    meta["gain_db"] = round(gain_db, 1)
    meta["phones"] = [[n, round(a, 4), round(b, 4)] for n, a, b in phones]
    return x.astype(np.float32), sr, phones, meta


def build_synthetic(
    out: str | Path, voices: list[str], n: int, *, seed: int = 0, noisy_fraction: float = 1 / 3, tempo: bool = False
) -> dict:
    """Write ``n`` utterances (round-robin over ``voices``) into ``out``; returns a summary."""
    if not voices:
        raise ValueError("voices: give at least one espeak-ng voice")
    for v in voices:
        language_of(v)
    out = Path(out)
    rng = np.random.default_rng(seed)
    espeak = Espeak()
    stats = BoundaryStats()
    noisy_idx = set(rng.permutation(n)[: int(round(n * noisy_fraction))].tolist())
    for i in range(n):
        voice = voices[i % len(voices)]
        x, sr, phones, meta = make_utterance(espeak, voice, rng, noisy=i in noisy_idx, tempo=tempo, stats=stats)
        ref = reference_from_phones(phones, len(x) / sr)
        ref.meta = meta
        save_item(out, f"utt{i:03d}_{voice.replace('+', '_')}", x, sr, ref)
    return {"files": n, "voices": voices, "noisy": len(noisy_idx), "seed": seed, "boundaries": stats.as_dict()}
