"""``pyavatar data realign``: re-align a labelled folder's clips to their transcripts with the current aligner.

Every clip whose ``meta`` carries ``text`` and ``language`` (clips written by
``data asterisk`` and ``data align``) is aligned again and written to ``out``
with its reference rebuilt from the new phones; everything else in its ``meta``
is kept. Clips without a transcript, or whose alignment fails, are listed in the
summary and not written, so nothing is silently relabelled with old timings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from pyavatar.data.align import align
from pyavatar.data.phone_model import PhoneModel
from pyavatar.data.policy import check_path
from pyavatar.evaluation.dataset import load_dataset, read_manifest, reference_from_phones, save_item, write_manifest


def realign_folder(
    src: str | Path,
    out: str | Path,
    *,
    method: str = "phones",
    model: PhoneModel | None = None,
    progress: bool = True,
) -> dict:
    """Re-align ``src``'s clips into ``out`` (a different folder); returns counts and the skipped clips."""
    src, out = Path(src), Path(out)
    check_path(str(src.resolve()))
    if src.resolve() == out.resolve():
        raise ValueError(f"{out}: write the re-aligned clips to a new folder, not over {src}")
    manifest = read_manifest(src)
    out.mkdir(parents=True, exist_ok=True)
    clips, skipped, costs = [], [], []
    for it in tqdm(load_dataset(src), desc="realign", unit="clip", disable=not progress):
        meta = dict(it.reference.meta)
        text, language = meta.get("text"), meta.get("language")
        if not text or not language:
            skipped.append({"name": it.name, "why": "no text/language in its meta"})
            continue
        x, sr = sf.read(it.wav, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        try:
            al = align(x, sr, str(text), str(language), method=method, model=model)
        except (KeyError, ValueError) as exc:
            skipped.append({"name": it.name, "why": str(exc)})
            continue
        phones = [(p.name, p.start, p.end) for p in al.phones]
        ref = reference_from_phones(phones, len(x) / sr)
        meta.update(
            {
                "align_cost": round(al.cost, 4),
                "aligner": method,
                "phones": [[p, round(a, 4), round(b, 4)] for p, a, b in phones],
            }
        )
        ref.meta = meta
        save_item(out, it.name, x, sr, ref)
        entry = dict(manifest.get(it.name, {"name": it.name}))
        entry["align_cost"] = round(al.cost, 4)
        clips.append(entry)
        costs.append(al.cost)
    write_manifest(out, clips)
    return {
        "realigned": len(clips),
        "skipped": skipped,
        "method": method,
        "cost_median": round(float(np.median(costs)), 3) if costs else None,
    }
