"""Renderer registry: one place that turns a renderer name into a :class:`~pyavatar.render.base.FaceRenderer`.

Built-in names map to ``"module:attribute"`` strings imported on first use, so
listing renderers imports nothing heavy:

- ``classical``: the weight-free warping renderer (the default);
- ``neural``: the LivePortrait-compatible renderer on user-supplied weights (``weights=DIR``);
- ``probe``: draws the face parameters as a probe cell and bars over the
  portrait; needs no face, costs a frame copy (tests, latency measurements).

Any ``"package.module:Factory"`` string works as a name too, and
:func:`register_renderer` adds names at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pyavatar.render.base import FaceRenderer

#: The renderer used when none is named.
DEFAULT_RENDERER = "classical"


class RendererUnavailable(RuntimeError):
    """A named renderer exists but cannot be created here (module missing, dependency missing)."""


_REGISTRY: dict[str, tuple[str | Callable[..., FaceRenderer], str]] = {
    "classical": ("pyavatar.render.classical:ClassicalRenderer", "weight-free warping renderer (default)"),
    "neural": (
        "pyavatar.render.liveportrait.face_renderer:from_weights",
        "LivePortrait-compatible neural renderer (weights=DIR)",
    ),
    "probe": ("pyavatar.render.probe:ProbeRenderer", "parameter probe drawn over the portrait (tests, latency)"),
}


def register_renderer(name: str, factory: str | Callable[..., FaceRenderer], description: str = "") -> None:
    """Make ``name`` create renderers with ``factory`` (a callable or a ``"module:attribute"`` string)."""
    if not name or ":" in name:
        raise ValueError(f"renderer name must be non-empty and contain no ':', got {name!r}")
    _REGISTRY[name] = (factory, description)


def renderer_names() -> dict[str, str]:
    """Registered names and their descriptions."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def _resolve(spec: str, name: str) -> Callable[..., FaceRenderer]:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"renderer {name!r}: expected 'package.module:Factory', got {spec!r}")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise RendererUnavailable(f"renderer {name!r} is not available: cannot import {module} ({e})") from e
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise RendererUnavailable(f"renderer {name!r} is not available: {module} has no {attr!r}") from None


def make_renderer(name: str | None = None, **options: Any) -> FaceRenderer:
    """A new renderer: a registered name (default :data:`DEFAULT_RENDERER`) or ``"module:Factory"``.

    ``options`` go to the factory. Raises ValueError for an unknown name,
    :class:`RendererUnavailable` when it cannot be imported, TypeError when the
    factory's result is not a FaceRenderer.
    """
    name = name or DEFAULT_RENDERER
    if name in _REGISTRY:
        factory = _REGISTRY[name][0]
        factory = _resolve(factory, name) if isinstance(factory, str) else factory
    elif ":" in name:
        factory = _resolve(name, name)
    else:
        raise ValueError(f"unknown renderer {name!r}; choose from {sorted(_REGISTRY)} or give 'module:Factory'")
    renderer = factory(**options)
    if not isinstance(renderer, FaceRenderer):
        raise TypeError(f"renderer {name!r}: {type(renderer).__name__} lacks prepare()/render_params()/name")
    return renderer
