r"""Per-user folders: where pyavatar keeps caches and settings (one definition for every module).

``PYAVATAR_CACHE_DIR`` / ``PYAVATAR_CONFIG_DIR`` override the platform defaults (``PYAVATAR_CACHE_DIR=off``
turns caching off): Windows ``%LOCALAPPDATA%\pyavatar\Cache`` and ``%APPDATA%\pyavatar``, macOS
``~/Library/{Caches,Application Support}/pyavatar``, elsewhere ``$XDG_CACHE_HOME/pyavatar`` (``~/.cache``)
and ``$XDG_CONFIG_HOME/pyavatar`` (``~/.config``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _platform_dir(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "win32":
        if kind == "cache":
            return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "pyavatar" / "Cache"
        return Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "pyavatar"
    if sys.platform == "darwin":
        sub = "Caches" if kind == "cache" else "Application Support"
        return home / "Library" / sub / "pyavatar"
    xdg = os.environ.get("XDG_CACHE_HOME" if kind == "cache" else "XDG_CONFIG_HOME")
    return Path(xdg or home / (".cache" if kind == "cache" else ".config")) / "pyavatar"


def cache_dir() -> Path | None:
    """Folder for data pyavatar can recompute (prepared portraits), None when caching is off; not created here."""
    value = os.environ.get("PYAVATAR_CACHE_DIR", "")
    if value.lower() == "off":
        return None
    return Path(value) if value else _platform_dir("cache")


def config_dir() -> Path:
    """Folder for settings pyavatar keeps for the user (e.g. app tokens); not created here."""
    return Path(os.environ.get("PYAVATAR_CONFIG_DIR") or _platform_dir("config"))
