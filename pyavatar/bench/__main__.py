"""``python -m pyavatar.bench SUITE ...``: same as ``pyavatar bench SUITE ...``."""

import argparse
import sys

from pyavatar.bench import add_suite_parsers

parser = argparse.ArgumentParser(prog="python -m pyavatar.bench")
add_suite_parsers(parser)
args = parser.parse_args()
sys.exit(int(args.func(args) or 0))
