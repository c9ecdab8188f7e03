"""Sub-commands of the ``pyavatar`` CLI, one module each (see :mod:`pyavatar.cli`)."""
