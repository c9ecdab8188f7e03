"""The per-ISA builds of the CPU kernels must not share out-of-line code.

Each kernel translation unit is compiled for x86-64-v2 and for x86-64-v3. If a
v3 object defined a weak (COMDAT) symbol outside its own namespace — an
out-of-line ``std::vector`` method, say — the linker could keep that AVX2 copy
for the v2 kernels too, which would crash on CPUs without AVX2.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _objects(isa: str) -> list[Path]:
    return sorted(ROOT.glob(f"build/*/CMakeFiles/pyavatar_kernels_{isa}.dir/**/*.o"))


def test_v3_objects_define_no_shared_weak_symbols():
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) not available")
    objects = _objects("v3")
    if not objects:
        pytest.skip("no per-ISA object files under build/ (not an x86-64 scikit-build build tree)")
    offenders = []
    for obj in objects:
        listing = subprocess.run(["nm", "-C", "--defined-only", str(obj)], capture_output=True, text=True, check=True)
        for line in listing.stdout.splitlines():
            parts = line.split(maxsplit=2)
            if len(parts) == 3 and parts[1] in ("W", "V", "u") and not re.search(r"::v3::|__gxx_personality", parts[2]):
                offenders.append(f"{obj.name}: {parts[2]}")
    assert not offenders, "v3 objects define shared weak symbols:\n" + "\n".join(offenders)
