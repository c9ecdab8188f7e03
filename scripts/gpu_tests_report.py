"""Checks for scripts/gpu_check.sh: the CUDA test results and what $OUT will send back.

``gpu_tests_report.py TESTS.xml --device cuda|cpu`` summarises a pytest JUnit file and fails when a test
failed, or when a test was skipped for a reason other than the missing GPU (on CPU) or at all (on CUDA, where
every CUDA test must run). ``gpu_tests_report.py --check-out DIR`` fails when DIR holds more than the device tool
brings back (8 plain files, 16 MiB each, 64 MiB together, two folders deep, names of [A-Za-z0-9._-]).
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

MAX_FILES = 8
MAX_FILE_BYTES = 16 << 20
MAX_TOTAL_BYTES = 64 << 20
NAME = re.compile(r"^[A-Za-z0-9._-]+$")
NO_GPU = re.compile(r"CUDA|GPU", re.IGNORECASE)


def report_tests(path: Path, device: str) -> int:
    if not path.is_file():
        print(f"tests: {path} was not written (pytest did not finish)")
        return 1
    counts: Counter[str] = Counter()
    problems = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        counts[outcome] += 1
        if outcome in ("failure", "error"):
            problems.append(f"{outcome.upper()} {name}")
        elif outcome == "skipped":
            reason = case.find("skipped").get("message", "")
            if device == "cuda" or not NO_GPU.search(reason):
                problems.append(f"SKIPPED {name}: {reason}")
    print("tests: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for line in problems:
        print("  " + line)
    if not counts:
        print("tests: none collected")
        return 1
    return 1 if problems else 0


def check_out(out: Path) -> int:
    files = [p for p in out.rglob("*") if not p.is_dir()]
    problems = []
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files (at most {MAX_FILES} come back)")
    total = 0
    for p in files:
        rel = p.relative_to(out)
        if p.is_symlink() or not p.is_file():
            problems.append(f"{rel}: not a plain file")
            continue
        size = p.stat().st_size
        total += size
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel}: {size} bytes (at most {MAX_FILE_BYTES})")
        if len(rel.parts) > 3 or not all(NAME.match(part) for part in rel.parts):
            problems.append(f"{rel}: too deep or a name outside [A-Za-z0-9._-]")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes in all (at most {MAX_TOTAL_BYTES})")
    print(f"out: {len(files)} files, {total} bytes: " + ("fits the transfer limits" if not problems else "TOO MUCH"))
    for line in problems:
        print("  " + line)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("junit", nargs="?", type=Path, help="pytest --junitxml file")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where the tests ran")
    p.add_argument("--check-out", type=Path, metavar="DIR", help="check DIR against the transfer limits instead")
    args = p.parse_args(argv)
    if args.check_out is not None:
        return check_out(args.check_out)
    if args.junit is None:
        p.error("give a JUnit file or --check-out DIR")
    return report_tests(args.junit, args.device)


if __name__ == "__main__":
    sys.exit(main())
