"""Validate the forced aligner on speech with known timings rendered by other synthesizers.

Festival (``kal_diphone``) and flite (``kal16``) speak the shipped English
sentences at random rates, and optionally MBROLA voices (real speakers' diphones)
their own language's sentences (reported per language, ``mbrola-fr`` etc.: the
check in French and German); :func:`pyavatar.data.align.align` aligns each
rendering to its transcript (via espeak-ng); phones are matched between the
known and the aligned sequence on their first IPA symbol (longest matching
blocks, so insertions and deletions of the two phone sets are skipped) and
the error of each matched phone's start is reported. The bundled phone model
(``method="phones"``) was trained on ``kal_diphone`` clips among others, never on
flite: flite is the figure for a synthesizer family the aligner never heard.
"""

from __future__ import annotations

import difflib
import time

import numpy as np
from tqdm import tqdm

from pyavatar.data.align import align
from pyavatar.data.engines import (
    MAX_DRAWS,
    VOICES,
    MissingDiphones,
    Speech,
    SynthError,
    festival,
    flite,
    installed_mbrola_voices,
    mbrola,
)
from pyavatar.data.phone_model import PhoneModel
from pyavatar.data.synth import sentences, voice_language
from pyavatar.evaluation.espeak import Phone


def _symbol(p: Phone) -> str:
    from pyavatar.evaluation.phonemes import expand

    label = expand(p.name)[0][0]
    return label if label != "cons" else p.name[:1]


def boundary_errors(known: list[Phone], aligned: list[Phone]) -> np.ndarray:
    """Start-time errors (s) of the phones matched between ``known`` and ``aligned``."""
    a, b = [_symbol(p) for p in known if p.name], [_symbol(p) for p in aligned]
    ka = [p for p in known if p.name]
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    errs = [
        abs(ka[blk.a + k].start - aligned[blk.b + k].start) for blk in sm.get_matching_blocks() for k in range(blk.size)
    ]
    return np.asarray(errs)


#: Synthesizers align-check can render with (MBROLA needs its Debian voices).
ENGINES = ("flite", "festival", "mbrola")


def _render(engine: str, rng: np.random.Generator, pool: tuple[str, ...]) -> tuple[str, str, Speech]:
    """(report key, text, speech) of one random sentence of ``engine`` (MBROLA: a voice of ``pool``)."""
    voices = installed_mbrola_voices(pool) if engine == "mbrola" else []
    if engine == "mbrola" and not voices:
        raise SynthError(f"no MBROLA voice of {list(pool)} is installed; install a Debian package mbrola-VOICE")
    for _ in range(MAX_DRAWS):
        voice = str(rng.choice(voices)) if voices else ""
        lang = voice_language(engine, voice) if voice else "en"
        texts = sentences(lang)
        text = texts[int(rng.integers(len(texts)))]
        rate = float(rng.uniform(0.8, 1.25))
        if engine != "mbrola":
            return engine, text, (festival if engine == "festival" else flite)(text, rate=rate)
        try:
            return f"mbrola-{lang}", text, mbrola(text, voice, rate=rate)
        except MissingDiphones:
            continue
    raise MissingDiphones(f"{MAX_DRAWS} MBROLA draws in a row lacked diphones ({voices}); pass other --mbrola-voices")


def validate(
    n: int,
    *,
    seed: int = 0,
    method: str = "phones",
    model: PhoneModel | None = None,
    engines: tuple[str, ...] = ("flite", "festival"),
    mbrola_voices: tuple[str, ...] = VOICES["mbrola"],
    progress: bool = True,
) -> dict:
    """Boundary error statistics of ``method`` over ``n`` renderings (round-robin over ``engines``).

    MBROLA renderings draw among the installed ``mbrola_voices``.
    """
    bad = [e for e in engines if e not in ENGINES]
    if bad or not engines:
        raise ValueError(f"align-check engines: {bad or 'none given'}; choose from {', '.join(ENGINES)}")
    rng = np.random.default_rng(seed)
    errs: list[np.ndarray] = []
    costs: list[float] = []
    per_engine: dict[str, list[np.ndarray]] = {}
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc="align-check", unit="clip", disable=not progress):
        key, text, sp = _render(engines[i % len(engines)], rng, mbrola_voices)
        lang = key.split("-")[1] if key.startswith("mbrola-") else "en"
        al = align(sp.samples, sp.sample_rate, text, lang, method=method, model=model)
        e = boundary_errors(sp.phones, al.phones) * 1000
        errs.append(e)
        per_engine.setdefault(key, []).append(e)
        costs.append(al.cost)
    allv = np.concatenate(errs)

    def stats(v: np.ndarray) -> dict:
        return {
            "boundaries": int(len(v)),
            "median_ms": round(float(np.median(v)), 1),
            "within_20ms": round(float((v <= 20).mean()), 3),
            "within_40ms": round(float((v <= 40).mean()), 3),
            "p90_ms": round(float(np.percentile(v, 90)), 1),
        }

    return {
        "clips": n,
        "seed": seed,
        "method": method,
        "engines": list(engines),
        **({"mbrola_voices": installed_mbrola_voices(mbrola_voices)} if "mbrola" in engines else {}),
        "pooled": stats(allv),
        "per_engine": {k: stats(np.concatenate(v)) for k, v in sorted(per_engine.items())},
        "cost_median": round(float(np.median(costs)), 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
