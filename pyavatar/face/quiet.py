"""Keep native libraries' start-up chatter (TensorFlow Lite, absl, MediaPipe) off the user's terminal.

MediaPipe's C++ graphs log to the process's stderr file descriptor directly, so neither Python's logging
nor environment variables set after start-up reach them. :func:`native_stderr_quiet` routes file
descriptor 2 to the null device for the duration of a block (graph creation and first inference), unless
the ``pyavatar`` logger is at DEBUG level (``pyavatar --verbose``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Read by TensorFlow Lite / glog when the native library initializes; they cover what is logged after that.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")


@contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Silence native writes to stderr inside the block (not at DEBUG level)."""
    if logging.getLogger("pyavatar").isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr (e.g. a GUI host): nothing to protect
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
