"""Detections remembered per image content.

A portrait prepared once starts again without loading the detector at all (MediaPipe's import alone
takes seconds).

Entries are ``.npz`` files (no pickles: ``allow_pickle=False``) named by the SHA-256 of the settings and
the input arrays, written atomically; an unreadable entry is ignored and rewritten, and a cache folder
that cannot be written only costs the time the cache would have saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pyavatar.face.landmarks import FaceLandmarks, LandmarkBackend

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the entry layout or the detector's output changes meaning


class CachedLandmarks:
    """``detect`` through an on-disk cache in front of a backend made on the first miss.

    Args:
        make_backend: builds the real backend (only called on a cache miss).
        settings: everything besides the pixels that changes the detector's answer (name, thresholds...).
        folder: cache folder (created on first write); None disables caching.
    """

    def __init__(self, make_backend: Callable[[], LandmarkBackend], settings: str, folder: Path | None) -> None:
        self._make = make_backend
        self._backend: LandmarkBackend | None = None
        self.settings = settings
        self.folder = folder
        self.hits = self.misses = 0

    @property
    def name(self) -> str:
        """``cached:`` and the settings the cache key is made from."""
        return f"cached:{self.settings}"

    def detect(self, image: NDArray[Any]) -> list[FaceLandmarks]:
        """The faces in ``image``: read from the cache entry of its content, else detected and stored."""
        path = None if self.folder is None else self.folder / f"{content_key(self.settings, (image,))}.npz"
        if path is not None and path.is_file():
            faces = _read(path)
            if faces is not None:
                self.hits += 1
                return faces
        self.misses += 1
        if self._backend is None:
            self._backend = self._make()
        faces = self._backend.detect(image)
        if path is not None:
            _write(path, faces)
        return faces

    def close(self) -> None:
        """Release the real backend if one was made."""
        close = getattr(self._backend, "close", None)
        if close is not None:
            close()
        self._backend = None


def content_key(settings: str, arrays: Sequence[NDArray[Any]]) -> str:
    """SHA-256 over ``settings`` and each array's dtype, shape and bytes."""
    h = hashlib.sha256(f"{FORMAT}|{settings}".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"|{a.dtype}|{a.shape}|".encode())
        h.update(a.data)
    return h.hexdigest()


def cached_array(
    folder: Path | None, settings: str, inputs: Sequence[NDArray[Any]], compute: Callable[[], NDArray[Any] | None]
) -> NDArray[Any] | None:
    """``compute()`` remembered on disk per ``settings`` and ``inputs`` content (None is remembered too)."""
    path = None if folder is None else folder / f"{content_key(settings, inputs)}.npz"
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return np.array(z["value"]) if bool(z["present"]) else None
        except (OSError, ValueError, KeyError) as exc:
            log.debug("ignoring unreadable cache entry %s: %s", path, exc)
    value = compute()
    if path is not None:
        present = value is not None
        _save(path, present=np.array(present), value=np.asarray(value) if present else np.zeros(0))
    return value


def _read(path: Path) -> list[FaceLandmarks] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return [
                FaceLandmarks(
                    tuple(f["box"]), np.array(z[f"points{i}"], np.float64), float(f["score"]), str(f["scheme"])
                )
                for i, f in enumerate(meta)
            ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("ignoring unreadable landmark cache entry %s: %s", path, exc)
        return None


def _write(path: Path, faces: list[FaceLandmarks]) -> None:
    meta = [{"box": [float(v) for v in f.box], "score": float(f.score), "scheme": f.scheme} for f in faces]
    arrays = {f"points{i}": np.asarray(f.points, np.float64) for i, f in enumerate(faces)}
    _save(path, meta=np.array(json.dumps(meta)), **arrays)


def _save(path: Path, **arrays: NDArray[Any]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only or full cache folder must never stop a render
        log.warning("could not write the cache entry %s: %s", path, exc)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
