"""The dependency rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyavatar"

# package -> pyavatar packages it may import (besides itself)
ALLOWED = {
    "packets": set(),
    "userdirs": set(),
    "checkpoints": set(),
    "kernels": set(),
    "face": set(),
    "audio": {"packets"},
    "motion": {"audio", "face", "packets", "kernels", "checkpoints", "tracking", "video"},
    "render": {"face", "kernels", "userdirs", "checkpoints"},
    "evaluation": {"audio", "motion", "packets"},
    "data": {"audio", "evaluation", "packets"},
    "training": {"audio", "evaluation", "motion", "packets"},
    "runtime": {"packets"},
    "outputs": {"face", "packets", "runtime", "userdirs"},
    "video": set(),
    "tracking": {"evaluation", "face", "video"},
    "batch": {"sdk", "render", "motion", "audio", "packets", "userdirs"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "pyavatar" and len(parts) > 1 and not parts[1].startswith("_"):
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layering_allows(package: str):
    root = PACKAGE / package
    files = sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{package}.py"]
    bad = []
    for f in files:
        extra = _imported_packages(f) - ALLOWED[package] - {package}
        if extra:
            bad.append(f"{f.relative_to(PACKAGE.parent)} imports {sorted(extra)}")
    assert not bad, "\n".join(bad)
