"""``pyavatar data augment``: augmented copies of a labelled folder's clips (more voices from few speakers).

Each clip with phone timings in its ``meta`` (clips written by ``data synth`` and
``data asterisk``) gets ``copies`` new versions: vocal-tract-length perturbation
over a wide range (formants and pitch scaled together, so one speaker sounds like
several), tempo with the phone times corrected, reverb, a telephone channel,
noise and gain (:func:`pyavatar.data.augment.apply`). References are rebuilt
from the corrected phones. Copies keep the source clip's ``speaker`` and
``family``, so a held-out split by speaker keeps every copy on the side of its
source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from pyavatar.data import augment
from pyavatar.data.policy import check_path
from pyavatar.evaluation.dataset import load_dataset, read_manifest, reference_from_phones, save_item, write_manifest

#: Probability of each augmentation per copy.
AUGMENT = {"vtlp": 0.8, "tempo": 0.4, "reverb": 0.3, "telephone": 0.15, "noise": 0.5}
#: VTLP factor range (0.82: a lower, longer vocal tract; 1.12: a shorter one).
VTLP_RANGE = (0.82, 1.12)


def augment_folder(src: str | Path, out: str | Path, copies: int, *, seed: int = 0, progress: bool = True) -> dict:
    """Write ``copies`` augmented versions of every clip of ``src`` (with phones) into ``out``; returns a summary."""
    if copies <= 0:
        raise ValueError(f"copies must be positive, got {copies}")
    import soundfile as sf

    check_path(str(Path(src).resolve()))
    out = Path(out)
    if out.resolve() == Path(src).resolve():
        raise ValueError(f"{out}: write the copies into another folder than the source")
    rng = np.random.default_rng(seed)
    entries = read_manifest(src)
    clips = list(read_manifest(out).values()) if (out / "manifest.json").is_file() else []
    skipped = []
    items = load_dataset(src)
    for item in tqdm(items, desc="augment", unit="clip", disable=not progress):
        phones = item.reference.meta.get("phones")
        if not phones:
            skipped.append(item.name)
            continue
        x, sr = sf.read(item.wav, dtype="float64")
        if x.ndim > 1:
            x = x.mean(axis=1)
        for k in range(copies):
            y, ph, applied = augment.apply(
                x, sr, [(str(n), float(a), float(b)) for n, a, b in phones], rng, AUGMENT, VTLP_RANGE
            )
            ref = reference_from_phones(ph, len(y) / sr)
            name = f"{item.name}_aug{k}"
            ref.meta = {
                **{k2: v for k2, v in item.reference.meta.items() if k2 != "phones"},
                **applied,
                "augmented_from": item.name,
                "phones": [[n, round(a, 4), round(b, 4)] for n, a, b in ph],
            }
            save_item(out, name, y, sr, ref)
            entry = {**entries.get(item.name, {}), "name": name, "duration_s": round(len(y) / sr, 3)}
            entry.setdefault("speaker", item.speaker)
            entry.setdefault("family", item.family)
            entry["augmented_from"] = item.name
            clips = [c for c in clips if c["name"] != name] + [entry]
    write_manifest(out, clips)
    return {"sources": len(items), "written": len(clips), "skipped_without_phones": skipped}
