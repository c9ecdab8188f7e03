"""pyavatar: a real-time avatar runtime that animates one portrait from live audio."""

__version__ = "0.1.0"

_LAZY = {"Avatar": "pyavatar.sdk", "Session": "pyavatar.sdk"}


def __getattr__(name: str) -> object:
    """``pyavatar.Avatar`` and ``pyavatar.Session`` load the SDK on first use (importing pyavatar stays light)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyavatar' has no attribute {name!r}")
