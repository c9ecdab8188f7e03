"""Options from TOML config files (``--config FILE`` on ``pyavatar demo|render|live``).

A config file holds option names as keys (``lip_scale`` or ``lip-scale``): at
the top level they apply to every command, in a table named after a command
(``[live]``) only to that one, which wins over the top level. Options given on
the command line win over both::

    fps = 30
    renderer = "classical"

    [live]
    virtualcam = true
    vmc = "127.0.0.1:39539"
    vmc_names = ["vrm0", "arkit"]

Unknown keys, unknown tables and values of the wrong type raise
:class:`ConfigError` naming the file, the key and what was expected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None  # type: ignore[assignment]

#: Option defaults per command, filled by the commands when the parser is built.
COMMANDS: dict[str, dict[str, Any]] = {}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and key."""


def register_options(command: str, defaults: Mapping[str, Any]) -> None:
    """Declare ``command``'s options and their defaults (the default's type is the expected type)."""
    COMMANDS[command] = dict(defaults)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file."""
    path = Path(path)
    if tomllib is None:
        raise ConfigError(f"{path}: reading TOML on Python 3.10 needs tomli (pip install tomli)")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def _check_type(path: Path, key: str, value: object, default: object) -> object:
    """``value`` (read for ``key``) checked against the option's default type, converted where that is lossless."""
    if default is None:
        if isinstance(value, (str, int, float, bool)):
            return value
        raise ConfigError(f"{path}: {key} must be a string or a number, got {type(value).__name__}")
    want = type(default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is list and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be {want.__name__}, got {type(value).__name__} {value!r}")
    return value


def load_config(path: str | Path, command: str) -> dict[str, Any]:
    """The options ``path`` sets for ``command`` (keys normalised to underscores, values type-checked)."""
    path = Path(path)
    if command not in COMMANDS:
        raise ConfigError(f"no options registered for command {command!r}")
    data = read_toml(path)
    known_everywhere = set().union(*(set(d) for d in COMMANDS.values()))
    mine = COMMANDS[command]
    out: dict[str, Any] = {}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for name in tables:
        if name not in COMMANDS:
            raise ConfigError(f"{path}: unknown table [{name}]; tables are command names: {sorted(COMMANDS)}")
    for scope, items in (
        ("top level", {k: v for k, v in data.items() if k not in tables}),
        (f"[{command}]", tables.get(command, {})),
    ):
        for raw_key, value in items.items():
            key = raw_key.replace("-", "_")
            if key in mine:
                out[key] = _check_type(path, key, value, mine[key])
            elif scope != "top level" or key not in known_everywhere:
                raise ConfigError(f"{path}: unknown option {raw_key!r} ({scope}); {command} takes {sorted(mine)}")
    return out


def resolve(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """Fill every option left at None on the command line from ``args.config`` or the registered default."""
    defaults = COMMANDS[command]
    cfg = load_config(args.config, command) if getattr(args, "config", None) else {}
    for key, default in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, cfg.get(key, default))
    return args
