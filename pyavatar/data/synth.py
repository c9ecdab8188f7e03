"""``pyavatar data synth``: multi-synthesizer training clips with exact phone timings.

Each clip: 1-2 sentences from the shipped lists (``pyavatar/data/sentences``)
spoken by one random voice of one engine at a random rate (0.8-1.25x duration)
and pitch, with 0.2-0.8 s of silence around it and a 0.1-0.6 s pause between
sentences, resampled to 16 kHz, then augmented (each step with its own
probability, see :data:`AUGMENT`). Labels are the engine's phone timings
mapped by :mod:`pyavatar.data.phonesets`; tempo changes divide them by the
factor. The clip's ``speaker`` is ``engine/voice`` and its ``family`` the engine,
so whole voices can be held out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pyavatar.data import augment
from pyavatar.data._signal import resample_poly
from pyavatar.data.engines import ENGINES, MAX_DRAWS, VOICES, MissingDiphones, synthesize
from pyavatar.data.policy import check_voice
from pyavatar.evaluation.dataset import read_manifest, reference_from_phones, save_item, write_manifest

SAMPLE_RATE = 16_000
#: Probability of each augmentation per clip.
AUGMENT = {"noise": 0.4, "reverb": 0.3, "tempo": 0.3, "telephone": 0.15, "vtlp": 0.4}
_LANG_ENGINES = {"festival": ("en",), "flite": ("en",)}


def sentences(language: str) -> list[str]:
    """The shipped sentence list of ``language`` (en, es, fr, de)."""
    path = resources.files("pyavatar.data") / "sentences" / f"{language}.txt"
    if not path.is_file():
        raise ValueError(f"no sentence list for language {language!r} ({path})")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and ln[0] != "#"]


def voice_language(engine: str, voice: str) -> str:
    """Language (en, es, fr, de) a voice of ``engine`` speaks, which picks its sentence list."""
    if engine == "espeak-ng":
        return voice.split("+")[0].split("-")[0]
    if engine == "mbrola":
        return "en" if voice.startswith("us") else voice[:2]
    return _LANG_ENGINES[engine][0]


@dataclass
class ClipSpec:
    """What one clip was made of (stored as its ``meta``)."""

    engine: str
    voice: str
    rate: float
    pitch: int


def _pitch(engine: str, voice: str, rng: np.random.Generator) -> int:
    if engine in ("espeak-ng", "mbrola"):
        return int(rng.integers(25, 76))
    return int(rng.integers(85, 150))


def make_clip(
    engine: str, voice: str, rng: np.random.Generator, augment_p: dict[str, float]
) -> tuple[np.ndarray, list[tuple[str, float, float]], dict, list[str]]:
    """Audio at 16 kHz, IPA phones, metadata and unmapped phones of one random clip."""
    lang = voice_language(engine, voice)
    texts = [str(t) for t in rng.choice(sentences(lang), size=int(rng.integers(1, 3)), replace=False)]
    rate, pitch = float(rng.uniform(0.8, 1.25)), _pitch(engine, voice, rng)
    pieces, phones, unmapped = [], [], []
    t = float(rng.uniform(0.2, 0.8))
    pieces.append(np.zeros(int(t * SAMPLE_RATE)))
    for i, text in enumerate(texts):
        if i:
            pieces.append(np.zeros(int(rng.uniform(0.1, 0.6) * SAMPLE_RATE)))
            t += len(pieces[-1]) / SAMPLE_RATE
        sp = synthesize(engine, text, voice, rate=rate, pitch=pitch)
        x = resample_poly(sp.samples.astype(np.float64), SAMPLE_RATE, sp.sample_rate)
        phones += [(p.name, t + p.start, t + p.end) for p in sp.phones if p.name]
        unmapped += sp.unmapped
        pieces.append(x)
        t += len(x) / SAMPLE_RATE
    pieces.append(np.zeros(int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)))
    x = np.concatenate(pieces)
    meta: dict = {
        "engine": engine,
        "voice": voice,
        "language": lang,
        "text": " ".join(texts),
        "rate": round(rate, 3),
        "pitch": pitch,
    }
    x, phones, applied = augment.apply(x, SAMPLE_RATE, phones, rng, augment_p)
    meta.update(applied)
    meta["phones"] = [[n, round(a, 4), round(b, 4)] for n, a, b in phones]
    return x.astype(np.float32), phones, meta, unmapped


def build(
    out: str | Path,
    engines: list[str],
    n: int,
    *,
    seed: int = 0,
    voices: dict[str, list[str]] | None = None,
    augment_p: dict[str, float] | None = None,
    progress: bool = True,
) -> dict:
    """Write ``n`` clips (round-robin over ``engines``) plus ``manifest.json`` into ``out``; returns a summary.

    ``voices`` overrides :data:`pyavatar.data.engines.VOICES` per engine (held-out voices are refused).
    Existing clips of the folder's manifest are kept; new names never collide with them.
    """
    bad = [e for e in engines if e not in ENGINES]
    if bad or not engines:
        raise ValueError(f"engines: {bad or 'none given'}; choose from {', '.join(ENGINES)}")
    pool = {e: list((voices or {}).get(e) or VOICES[e]) for e in engines}
    for e, vs in pool.items():
        for v in vs:
            check_voice(e, v)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = list(read_manifest(out).values())
    start = len(clips)
    rng = np.random.default_rng(seed)
    unmapped: Counter[str] = Counter()
    redrawn: Counter[str] = Counter()
    for i in tqdm(range(n), desc="synth", unit="clip", disable=not progress):
        engine = engines[i % len(engines)]
        for _ in range(MAX_DRAWS):
            voice = str(rng.choice(pool[engine]))
            try:
                x, phones, meta, um = make_clip(engine, voice, rng, AUGMENT if augment_p is None else augment_p)
                break
            except MissingDiphones:
                redrawn[f"{engine}/{voice}"] += 1
        else:
            raise MissingDiphones(
                f"{MAX_DRAWS} draws in a row hit missing diphones ({dict(redrawn)}); choose other voices"
            )
        unmapped.update(um)
        name = f"s{seed}_{start + i:05d}_{engine}_{voice.replace('+', '_')}"
        ref = reference_from_phones(phones, len(x) / SAMPLE_RATE)
        ref.meta = {**meta, "speaker": f"{engine}/{voice}", "family": engine, "source": "synth"}
        save_item(out, name, x, SAMPLE_RATE, ref)
        clips.append(
            {
                "name": name,
                "speaker": ref.meta["speaker"],
                "family": engine,
                "language": meta["language"],
                "source": "synth",
                "duration_s": round(len(x) / SAMPLE_RATE, 3),
            }
        )
        write_manifest(out, clips)
    return {
        "clips": n,
        "total_clips": len(clips),
        "engines": engines,
        "seed": seed,
        "unmapped_phones": dict(unmapped),
        "redrawn_missing_diphones": dict(redrawn),
    }
