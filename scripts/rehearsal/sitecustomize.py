"""Rehearsal of scripts/gpu_check.sh: make the packages the GPU machine lacks unimportable.

Active only when this folder is on PYTHONPATH (``gpu_check.sh --dry-run`` puts it there) and lists nothing
unless ``PYAVATAR_BLOCK_IMPORTS`` names top-level packages (comma-separated).
"""

from __future__ import annotations

import importlib.abc
import os
import sys

_BLOCKED = frozenset(filter(None, os.environ.get("PYAVATAR_BLOCK_IMPORTS", "").split(",")))


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in _BLOCKED:
            why = "blocked: the GPU machine does not have it"
            raise ModuleNotFoundError(f"No module named {name!r} ({why})", name=name)
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Blocked())
