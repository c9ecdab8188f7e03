"""Lip-sync evaluation sets: a folder of ``NAME.wav`` + ``NAME.json`` reference tracks.

``NAME.json`` holds 25 fps tracks where frame ``i`` covers ``[40 i, 40 (i + 1))``
ms from the start of ``NAME.wav``:

- ``jaw_open``: list of floats in 0..1;
- ``visemes``: list of labels, ``aa``/``ih``/``ou``/``ee``/``oh`` for vowel frames,
  ``cons`` for consonant frames, ``sil`` for silence;
- ``speaking``: list of 0/1;
- optional ``meta``: anything (voice, language, text, augmentation, phone timings).

A folder may also hold ``manifest.json`` (written by the ``pyavatar data``
tools): ``{"format": "pyavatar-lipsync", "version": 1, "fps": 25, "clips":
[{"name", "speaker", "family", "language", "source", "duration_s", ...}]}``.
``speaker`` is one voice or person (held out as a whole), ``family`` the group
results are reported by (a synthesizer and voice type, or a real-speech corpus).
Its fields are merged into each item's ``meta``; clips missing from the manifest
keep ``speaker``/``family`` from ``meta`` or fall back to ``meta.voice``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyavatar.evaluation.phonemes import LABELS, expand

FPS = 25
_RES = 0.001  # 1 ms timeline for building references
_COARTIC_S = 0.03  # jaw targets are blended over a 30 ms Hann window


@dataclass
class Reference:
    """Reference tracks of one file (see the module docstring)."""

    jaw_open: np.ndarray
    visemes: list[str]
    speaking: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.jaw_open)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``NAME.json``."""
        return {
            "fps": FPS,
            "jaw_open": [round(float(v), 4) for v in self.jaw_open],
            "visemes": list(self.visemes),
            "speaking": [int(v) for v in self.speaking],
            "meta": self.meta,
        }


@dataclass(frozen=True)
class Item:
    """One evaluation file."""

    name: str
    wav: Path
    reference: Reference

    @property
    def speaker(self) -> str:
        """The voice or person (``meta.speaker``, else ``meta.voice``, else ``unknown``)."""
        m = self.reference.meta
        return str(m.get("speaker") or m.get("voice") or "unknown")

    @property
    def family(self) -> str:
        """The reporting group (``meta.family``, else the speaker)."""
        return str(self.reference.meta.get("family") or self.speaker)


MANIFEST = "manifest.json"
MANIFEST_FORMAT = "pyavatar-lipsync"


def read_manifest(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``{clip name: entry}`` of ``folder/manifest.json`` (empty when there is none)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {}
    obj = json.loads(path.read_text())
    if obj.get("format") != MANIFEST_FORMAT or obj.get("version") != 1:
        raise ValueError(
            f"{path}: not a {MANIFEST_FORMAT} v1 manifest (format={obj.get('format')!r}, "
            f"version={obj.get('version')!r})"
        )
    out = {}
    for i, c in enumerate(obj.get("clips", [])):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ValueError(f"{path}: clips[{i}] needs a string 'name'")
        out[c["name"]] = c
    return out


def write_manifest(folder: str | Path, clips: list[dict[str, Any]], **extra: Any) -> Path:
    """Write ``folder/manifest.json`` atomically (temp file + rename)."""
    path = Path(folder) / MANIFEST
    obj = {"format": MANIFEST_FORMAT, "version": 1, "fps": FPS, **extra, "clips": clips}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def n_frames(duration_s: float, fps: float = FPS) -> int:
    """Frames covering ``duration_s`` seconds at ``fps`` (a partial last frame counts)."""
    return int(np.ceil(round(duration_s * fps, 6)))


def reference_from_phones(phones: list[tuple[str, float, float]], duration_s: float, fps: float = FPS) -> Reference:
    """Reference tracks from ``(ipa_name, start_s, end_s)`` phones (gaps count as silence).

    ``fps`` must divide 1000; the file format uses 25.
    """
    n_ms = int(round(duration_s / _RES))
    label_idx = np.full(n_ms, LABELS.index("sil"), dtype=np.int64)
    jaw = np.zeros(n_ms)
    for name, start, end in phones:
        t = start
        for label, target, share in expand(name):
            t1 = t + share * (end - start)
            a, b = int(round(t / _RES)), int(round(t1 / _RES))
            label_idx[a:b] = LABELS.index(label)
            jaw[a:b] = target
            t = t1
    win = np.hanning(int(_COARTIC_S / _RES) + 2)[1:-1]
    jaw = np.convolve(jaw, win / win.sum(), mode="same")
    frames = n_frames(duration_s, fps)
    per = int(round(1 / fps / _RES))
    pad = frames * per - n_ms
    jaw = np.pad(jaw, (0, pad)).reshape(frames, per)
    label_idx = np.pad(label_idx, (0, pad), constant_values=LABELS.index("sil")).reshape(frames, per)
    counts = np.stack([(label_idx == k).sum(axis=1) for k in range(len(LABELS))], axis=1)
    labels = [LABELS[k] for k in counts.argmax(axis=1)]
    speaking = (counts[:, LABELS.index("sil")] * 2 < per).astype(np.int64)
    valid = np.minimum(per, np.maximum(n_ms - np.arange(frames) * per, 1))
    return Reference(np.clip(jaw.sum(axis=1) / valid, 0.0, 1.0), labels, speaking)


def parse_reference(obj: dict[str, Any], where: str) -> Reference:
    """Validate a ``NAME.json`` object; errors name ``where`` and the key."""
    if obj.get("fps", FPS) != FPS:
        raise ValueError(f"{where}: fps must be {FPS}, got {obj.get('fps')}")
    try:
        jaw = np.asarray(obj["jaw_open"], dtype=np.float64)
        visemes = [str(v) for v in obj["visemes"]]
        speaking = np.asarray(obj["speaking"], dtype=np.int64)
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e.args[0]!r}") from None
    if not (len(jaw) == len(visemes) == len(speaking)):
        raise ValueError(
            f"{where}: jaw_open/visemes/speaking lengths differ ({len(jaw)}/{len(visemes)}/{len(speaking)})"
        )
    bad = sorted(set(visemes) - set(LABELS))
    if bad:
        raise ValueError(f"{where}: unknown viseme labels {bad}; expected {list(LABELS)}")
    if not np.isfinite(jaw).all() or jaw.min(initial=0) < 0 or jaw.max(initial=0) > 1:
        raise ValueError(f"{where}: jaw_open must be finite values in 0..1")
    if not set(np.unique(speaking)) <= {0, 1}:
        raise ValueError(f"{where}: speaking must be 0/1")
    return Reference(jaw, visemes, speaking, dict(obj.get("meta", {})))


def load_dataset(folder: str | Path) -> list[Item]:
    """Every ``NAME.wav`` with its ``NAME.json`` in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluation set not found: {folder}")
    manifest = read_manifest(folder)
    items = []
    for wav in sorted(p for p in folder.glob("*.wav") if not p.name.startswith(".")):
        js = wav.with_suffix(".json")
        if not js.is_file():
            raise FileNotFoundError(f"{wav}: reference {js.name} is missing")
        ref = parse_reference(json.loads(js.read_text()), str(js))
        ref.meta.update({k: v for k, v in manifest.get(wav.stem, {}).items() if k != "name"})
        items.append(Item(wav.stem, wav, ref))
    if not items:
        raise FileNotFoundError(f"{folder}: no NAME.wav + NAME.json pairs")
    return items


def save_item(folder: Path, name: str, samples: np.ndarray, sample_rate: int, ref: Reference) -> None:
    """Write ``name.wav`` (16-bit PCM) and ``name.json``, each atomically."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp.wav"
    sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16")
    tmp.replace(folder / f"{name}.wav")
    tmp_js = folder / f".{name}.json.tmp"
    tmp_js.write_text(json.dumps(ref.to_json(), ensure_ascii=False) + "\n")
    tmp_js.replace(folder / f"{name}.json")
