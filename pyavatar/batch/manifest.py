"""The results manifest (``DIR/manifest.jsonl``) and the lock that keeps one batch per output folder.

One JSON object per finished job: ``job``, ``status`` (``done`` or ``failed``),
``output``, ``frames``, ``seconds`` (render wall time), ``audio_seconds``,
``cpu_seconds`` (the worker's CPU time for the job, preparation included),
``size``, ``attempts``, ``error``, ``params`` (the job's parameter hash),
``bytes`` and ``finished`` (UTC time). Runs append; the last line of a job is its state. A
line is written only after the job's output was renamed into place, in one
``write`` followed by ``fsync``, so a killed run leaves at most a partial last
line, which the next run drops before appending.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

MANIFEST = "manifest.jsonl"
LOCK = ".pyavatar-batch.lock"


class Manifest:
    """Append-only JSON-lines results of one output folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            data = path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a line cut by a killed run: drop it
                with path.open("r+b") as f:
                    f.truncate(end)
            for n, line in enumerate(data[:end].splitlines(), 1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{path}, line {n}: not valid JSON; fix or remove the line") from None
                self.entries[str(entry["job"])] = entry
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, entry: dict[str, Any]) -> None:
        """Record ``entry`` (one durable line)."""
        entry = {**entry, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.write(self._fd, (json.dumps(entry) + "\n").encode())
        os.fsync(self._fd)
        self.entries[str(entry["job"])] = entry

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OutDirLock:
    """An exclusive lock on an output folder for the life of a batch (released by the OS if the process dies)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK
        self._fd = -1

    def __enter__(self) -> OutDirLock:
        import fcntl

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise OSError(
                f"{self.path.parent}: another pyavatar batch (pid {holder}) is writing here; "
                "wait for it or choose another --out folder"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self._fd)
        self._fd = -1
