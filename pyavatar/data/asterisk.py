"""Import the Asterisk core sound prompts (English, Spanish, French) as aligned training clips.

Audio: ``/usr/share/asterisk/sounds/LANG/**/NAME.g722`` (Debian packages
``asterisk-core-sounds-LANG-g722``; 16 kHz G.722, decoded with PyAV).
Transcripts: ``/usr/share/doc/asterisk-core-sounds-LANG/core-sounds-LANG.txt.gz``
(package ``asterisk-core-sounds-LANG``), lines ``name: text``; bracketed
descriptions (tones, beeps) are skipped. Each prompt is aligned with
:func:`pyavatar.data.align.align`; clips whose alignment cost exceeds the
median + 3 MAD of the run are dropped as outliers (listed in the summary).
Only en, es and fr are accepted: the Italian and Russian sounds are held out.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pyavatar.data.align import align
from pyavatar.data.policy import HeldOutError, check_path
from pyavatar.evaluation.dataset import read_manifest, reference_from_phones, save_item, write_manifest

LANGUAGES = ("en", "es", "fr")
SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
_MIN_WORDS = 1


def decode_g722(path: Path) -> np.ndarray:
    """float32 samples in [-1, 1] of a raw G.722 file (16 kHz)."""
    import av

    with av.open(str(path), format="g722") as c:
        frames = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
    return np.concatenate(frames).astype(np.float32) / 32768.0 if frames else np.zeros(0, np.float32)


def transcripts(language: str, docs: Path = DOCS) -> dict[str, str]:
    """``{prompt name: text}`` of one language's transcript file."""
    path = docs / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing; install the Debian package asterisk-core-sounds-{language}")
    out = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        if line.startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        text = re.sub(r"\[[^\]]*\]", " ", text).strip()
        if len(text.split()) >= _MIN_WORDS and re.search(r"\w", text):
            out[name.strip()] = text
    return out


def import_asterisk(
    out: str | Path,
    languages: list[str],
    *,
    limit: int | None = None,
    sounds: Path = SOUNDS,
    docs: Path = DOCS,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Align and write the prompts of ``languages`` into ``out`` (``limit`` per language, randomly chosen)."""
    for lang in languages:
        if lang not in LANGUAGES:
            raise HeldOutError(
                f"Asterisk language {lang!r} is not a training language (allowed: {LANGUAGES}; "
                "it and ru are reserved for held-out evaluation)"
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    done = []
    for lang in languages:
        root = (sounds / lang).resolve()
        check_path(str(root))
        if not root.is_dir():
            raise FileNotFoundError(f"{sounds / lang} missing; install asterisk-core-sounds-{lang}-g722")
        speaker = root.name.split("_")[-1] if "_" in root.name else lang
        texts = transcripts(lang, docs)
        names = sorted(n for n in texts if (root / f"{n}.g722").is_file())
        if limit is not None:
            names = sorted(rng.choice(names, size=min(limit, len(names)), replace=False).tolist())
        for n in tqdm(names, desc=f"asterisk-{lang}", unit="clip", disable=not progress):
            x = decode_g722(root / f"{n}.g722")
            if len(x) < 1600:
                continue
            try:
                al = align(x, 16000, texts[n], lang)
            except (KeyError, ValueError):
                continue  # a transcript symbol outside the viseme table
            done.append((lang, speaker, n, texts[n], x, al))
    costs = np.array([d[-1].cost for d in done])
    med = float(np.median(costs)) if len(costs) else 0.0
    mad = float(np.median(np.abs(costs - med))) if len(costs) else 0.0
    limit_cost = med + 3 * 1.4826 * mad
    clips = list(read_manifest(out).values())
    dropped = []
    for lang, speaker, n, text, x, al in done:
        name = f"asterisk_{lang}_{n.replace('/', '_')}"
        if al.cost > limit_cost:
            dropped.append({"name": name, "cost": round(al.cost, 3)})
            continue
        phones = [(p.name, p.start, p.end) for p in al.phones]
        ref = reference_from_phones(phones, len(x) / 16000)
        ref.meta = {
            "speaker": f"asterisk/{speaker}",
            "family": f"asterisk-{lang}",
            "language": lang,
            "text": text,
            "source": "asterisk",
            "align_cost": round(al.cost, 4),
            "phones": [[p, round(a, 4), round(b, 4)] for p, a, b in phones],
        }
        save_item(out, name, x, 16000, ref)
        clips.append(
            {
                "name": name,
                "speaker": ref.meta["speaker"],
                "family": ref.meta["family"],
                "language": lang,
                "source": "asterisk",
                "duration_s": round(len(x) / 16000, 3),
                "align_cost": round(al.cost, 4),
            }
        )
    write_manifest(out, clips)
    return {
        "aligned": len(done),
        "kept": len(done) - len(dropped),
        "dropped_outliers": dropped,
        "cost_median": round(med, 3),
        "cost_limit": round(limit_cost, 3),
    }
