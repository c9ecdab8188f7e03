"""The one loader of the compiled extension modules (``pyavatar._core``, ``pyavatar._cuda``).

Layering rule: this module imports only the standard library, so every package (kernels, render, outputs, ...)
may import it; it holds no policy beyond loading (thread counts and backend choice stay with the callers).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: How to get ``pyavatar._core`` built: the C++ part of an editable or regular install.
REBUILD = (
    "rebuild it with `pip install --no-build-isolation -e .` from the repository (needs CMake and a C++17 "
    "compiler), then check with `pyavatar doctor`"
)


def load(name: str, missing: str = REBUILD) -> ModuleType:
    """The compiled module ``pyavatar.<name>`` (``sys.modules`` keeps it after the first import).

    Args:
        name: the extension's name inside the package (``"_core"``, ``"_cuda"``).
        missing: what to do when the module was never built (appended to the error).

    Raises:
        ImportError: naming the module, the underlying error and what to do.
    """
    try:
        return importlib.import_module(f"pyavatar.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pyavatar.{name}":
            raise ImportError(f"pyavatar.{name} failed to load ({exc}); {REBUILD}") from exc
        raise ImportError(f"pyavatar.{name} was not built; {missing}") from exc
    except ImportError as exc:
        raise ImportError(
            f"pyavatar.{name} failed to load ({exc}): built for another Python or platform, or a library it "
            f"links is missing; {REBUILD}"
        ) from exc


def core() -> ModuleType:
    """``pyavatar._core``: the C++ CPU kernels, the mesh rasterizer and the OSC/VMC encoders."""
    return load("_core")
