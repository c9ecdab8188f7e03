"""``pyavatar bench SUITE``: run a benchmark suite (see :mod:`pyavatar.bench`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command and its options to ``sub``."""
    from pyavatar.bench import add_suite_parsers

    p = sub.add_parser(
        "bench",
        help="time pyavatar against in-process references",
        description="Benchmark suites. Each times pyavatar against a reference measured in the same run and "
        "prints ratios (absolute times mean little on a busy machine); --json writes the rows to a file.",
    )
    add_suite_parsers(p)
