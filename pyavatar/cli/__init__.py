"""The ``pyavatar`` command line.

Each module in :mod:`pyavatar.cli.commands` adds one sub-command through a
``register(subparsers)`` function that sets ``func`` on its parser; ``func``
receives the parsed arguments and returns the process exit code. Modules
import their heavy dependencies inside ``func`` so ``pyavatar --help`` stays fast.

Every command accepts ``-v/--verbose`` (debug logging, native libraries' own logs) and ``-q/--quiet``
(errors only); failures are reported by :mod:`pyavatar.cli.errors` (stderr, documented exit codes).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from pyavatar import __version__
from pyavatar.cli import commands, errors


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=logging.DEBUG,
        dest="log_level",
        default=default,
        help="debug logging, including the native libraries' own start-up logs",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="store_const",
        const=logging.ERROR,
        dest="log_level",
        default=default,
        help="print errors only",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="pyavatar",
        description="Real-time avatar runtime: animate a portrait from audio.",
    )
    parser.add_argument("--version", action="version", version=f"pyavatar {__version__}")
    _add_verbosity(parser, logging.INFO)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    for command in sub.choices.values():  # also accepted after the command name
        _add_verbosity(command, argparse.SUPPRESS)
    parser.epilog = (
        "exit codes: 0 success, 1 failure (one line on stderr says what and why), 2 usage error, 130 interrupted"
    )
    return parser


def configure_logging(level: int) -> None:
    """Log records of ``pyavatar`` at ``level`` and above to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pyavatar: %(levelname)s: %(message)s"))
    root = logging.getLogger("pyavatar")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyavatar`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return errors.EXIT_USAGE
    configure_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        errors.report(args.command, "interrupted")
        return errors.EXIT_INTERRUPTED
    except errors.UsageError as e:
        errors.report(args.command, e)
        return errors.EXIT_USAGE
    except errors.user_errors() as e:
        errors.report(args.command, e)
        return errors.EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
