"""Validate the forced aligner on speech with known timings rendered by other synthesizers.

Festival (``kal_diphone``) and flite (``kal16``) speak the shipped English
sentences at random rates; :func:`pyavatar.data.align.align` aligns each
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
from pyavatar.data.engines import festival, flite
from pyavatar.data.phone_model import PhoneModel
from pyavatar.data.synth import sentences
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


def validate(
    n: int, *, seed: int = 0, method: str = "phones", model: PhoneModel | None = None, progress: bool = True
) -> dict:
    """Boundary error statistics of ``method`` over ``n`` renderings (alternating Festival and flite)."""
    rng = np.random.default_rng(seed)
    texts = sentences("en")
    errs, costs, per_engine = [], [], {"festival": [], "flite": []}
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc="align-check", unit="clip", disable=not progress):
        text = texts[int(rng.integers(len(texts)))]
        rate = float(rng.uniform(0.8, 1.25))
        engine, fn = ("festival", festival) if i % 2 else ("flite", flite)
        sp = fn(text, rate=rate)
        al = align(sp.samples, sp.sample_rate, text, "en", method=method, model=model)
        e = boundary_errors(sp.phones, al.phones) * 1000
        errs.append(e)
        per_engine[engine].append(e)
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
        "pooled": stats(allv),
        "per_engine": {k: stats(np.concatenate(v)) for k, v in per_engine.items() if v},
        "cost_median": round(float(np.median(costs)), 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
