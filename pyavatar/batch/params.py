"""The parameter hash of a job: what its output depends on (input contents and every option).

A re-run skips a job only when its manifest entry carries the same hash, so an
edited audio file, a new portrait or a changed option renders the job again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from pyavatar.batch.jobs import Job

_FILE_FIELDS = ("portrait", "audio")
_OPTIONAL_FILE_FIELDS = ("motion_weights",)
_IGNORED = ("id", "audio_seconds", "weights", *_FILE_FIELDS, *_OPTIONAL_FILE_FIELDS)


class Fingerprints:
    """Content digests of input files and folders, each computed once per run."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def file(self, path: str) -> str:
        """SHA-256 of a file's bytes."""
        if path not in self._cache:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._cache[path] = h.hexdigest()
        return self._cache[path]

    def folder(self, path: str) -> str:
        """Names, sizes and modification times of a folder's files (weights are too large to read per run)."""
        if path not in self._cache:
            entries = []
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    st = os.stat(os.path.join(root, name))
                    entries.append((os.path.relpath(os.path.join(root, name), path), st.st_size, st.st_mtime_ns))
            self._cache[path] = hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()
        return self._cache[path]

    def job_hash(self, job: Job) -> str:
        """Hex digest of the job's options and input contents (not its id or where the inputs live)."""
        fields = {k: v for k, v in dataclasses.asdict(job).items() if k not in _IGNORED}
        fields.update({k: self.file(getattr(job, k)) for k in _FILE_FIELDS})
        fields.update({k: self.file(getattr(job, k)) if getattr(job, k) else "" for k in _OPTIONAL_FILE_FIELDS})
        fields["weights"] = self.folder(job.weights) if job.weights else ""
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def output_path(out_dir: Path, job: Job) -> Path:
    """Where ``job``'s output goes."""
    return out_dir / job.output


def output_bytes(path: Path) -> int | None:
    """Size of an output file, or the total of a PNG folder's files; None when it does not exist."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return None
