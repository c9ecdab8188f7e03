"""``python -m pyavatar.cli`` runs the command line."""

import sys

from pyavatar.cli import main

sys.exit(main())
