"""Benchmarks: each module here is one ``pyavatar bench NAME`` suite.

A suite module defines ``DESCRIPTION`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Suites time pyavatar against a reference measured in
the same process and print/write ratios; absolute times are only meaningful on
a quiet machine or a GPU.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType

_NOT_SUITES = {"timing"}


def suites() -> dict[str, ModuleType]:
    """Benchmark suite modules by name (``kernels``, ``render``, ...)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_SUITES:
            continue
        found[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return found


def add_suite_parsers(sub: argparse._SubParsersAction) -> None:
    """Register one sub-parser per suite on ``sub``."""
    for name, module in sorted(suites().items()):
        p = sub.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
