"""The ``pyavatar`` command line.

Each module in :mod:`pyavatar.cli.commands` adds one sub-command through a
``register(subparsers)`` function that sets ``func`` on its parser; ``func``
receives the parsed arguments and returns the process exit code. Modules
import their heavy dependencies inside ``func`` so ``pyavatar --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from pyavatar import __version__
from pyavatar.cli import commands


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="pyavatar",
        description="Real-time avatar runtime: animate a portrait from audio.",
    )
    parser.add_argument("--version", action="version", version=f"pyavatar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyavatar`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
