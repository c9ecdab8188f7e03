"""Benchmarks: each module here is one ``pyavatar bench NAME`` suite.

A suite module defines ``DESCRIPTION`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Suites time pyavatar against a reference measured in
the same process and print/write ratios; absolute times are only meaningful on
a quiet machine or a GPU.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

_NOT_SUITES = {"timing"}


def suite_names() -> dict[str, str]:
    """Suite names and their one-line ``DESCRIPTION``, read from the source without importing the suites."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_SUITES:
            continue
        found[info.name] = _description(Path(__path__[0]) / f"{info.name}.py")
    return found


def _description(path: Path) -> str:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DESCRIPTION" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise RuntimeError(f"benchmark suite {path} has no DESCRIPTION string")


def suite(name: str) -> ModuleType:
    """The suite module ``name`` (imports its dependencies)."""
    return importlib.import_module(f"{__name__}.{name}")


class _LazySuites(argparse._SubParsersAction):
    """Sub-parsers whose arguments are added only when their suite is chosen.

    ``pyavatar bench --help`` (and the rest of the command line) never import torch;
    ``pyavatar bench SUITE`` imports that suite only.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = values[0] if values else None
        sub = self._name_parser_map.get(name)
        if sub is not None and sub.get_default("func") is None:
            module = suite(name)
            module.add_arguments(sub)
            sub.set_defaults(func=module.run)
        super().__call__(parser, namespace, values, option_string)


def add_suite_parsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """Add one sub-parser per suite to ``parser`` (arguments loaded when the suite is chosen)."""
    sub = parser.add_subparsers(dest="suite", metavar="SUITE", required=True, action=_LazySuites)
    for name, description in sorted(suite_names().items()):
        sub.add_parser(name, help=description, description=description)
    return sub
