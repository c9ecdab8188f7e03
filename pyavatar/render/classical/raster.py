"""Python side of the C++ mesh rasterizer (``pyavatar._core.raster_flow`` / ``remap_image``).

:func:`rasterize_flow` turns a deformed mesh into a dense backward flow (for
every output pixel, where to sample the source) plus an RGBA overlay;
:func:`remap` samples a uint8 image at that flow (bicubic; pixel centres are copied) and composites
the overlay. Arrays are checked here, the kernels trust them.
"""

from __future__ import annotations

import numpy as np

from pyavatar._native import core


def set_threads(n: int) -> None:
    """CPU threads used by the C++ kernels (shared with the other ``pyavatar._core`` kernels)."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    core().set_num_threads(int(n))


def _ptr(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def _check(name: str, a: np.ndarray, dtype: type, shape: tuple[int | None, ...]) -> None:
    if a.dtype != dtype or a.ndim != len(shape) or not a.flags.c_contiguous:
        raise ValueError(
            f"{name}: expected a C-contiguous {np.dtype(dtype).name} array of rank {len(shape)}, "
            f"got {a.dtype} {a.shape}"
        )
    for got, want in zip(a.shape, shape, strict=True):
        if want is not None and got != want:
            raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")


def rasterize_flow(
    positions: np.ndarray,
    source: np.ndarray,
    triangles: np.ndarray,
    size: tuple[int, int],
    overlay: np.ndarray | None = None,
    *,
    out: tuple[np.ndarray, np.ndarray | None] | None = None,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Dense backward flow of a deformed mesh (and, with ``sample``, the warped image in the same call).

    Args:
        positions: (V, 3) float32 output x, y (pixel centres at integers) and depth (smaller in front).
        source: (V, 2) float32 source x, y of every vertex.
        triangles: (T, 3) int32 vertex indices (checked against V).
        size: output (width, height).
        overlay: optional (V, 4) float32 premultiplied RGBA in [0, 1].
        out: optional preallocated (flow, overlay) buffers.
        sample: optional (image, output): also write :func:`remap` of ``image``
            (uint8 (Hs, Ws, C), contiguous pixels) into ``output`` (uint8 (H, W, C)).

    Returns:
        flow (H, W, 2) float32 (uncovered pixels map to themselves) and the
        interpolated overlay (H, W, 4) float32 or None.
    """
    w, h = (int(s) for s in size)
    if w < 1 or h < 1:
        raise ValueError(f"rasterize_flow: size must be positive, got {size}")
    v = positions.shape[0] if positions.ndim == 2 else -1
    _check("positions", positions, np.float32, (None, 3))
    _check("source", source, np.float32, (v, 2))
    _check("triangles", triangles, np.int32, (None, 3))
    if triangles.size and (triangles.min() < 0 or triangles.max() >= v):
        raise ValueError(f"triangles: indices must lie in [0, {v}), got [{triangles.min()}, {triangles.max()}]")
    if overlay is not None:
        _check("overlay", overlay, np.float32, (v, 4))
    flow, over = out if out is not None else (None, None)
    flow = np.empty((h, w, 2), np.float32) if flow is None else flow
    _check("flow", flow, np.float32, (h, w, 2))
    if overlay is not None:
        over = np.empty((h, w, 4), np.float32) if over is None else over
        _check("overlay out", over, np.float32, (h, w, 4))
    else:
        over = None
    extra: tuple[int, ...] = ()
    if sample is not None:
        image, output = sample
        _check_image(image)
        _check("output", output, np.uint8, (h, w, image.shape[2]))
        extra = (_ptr(image), image.shape[0], image.shape[1], image.shape[2], image.strides[0], _ptr(output))
    core().raster_flow(
        _ptr(positions),
        _ptr(source),
        _ptr(overlay) if overlay is not None else 0,
        v,
        _ptr(triangles),
        len(triangles),
        h,
        w,
        _ptr(flow),
        _ptr(over) if over is not None else 0,
        *extra,
    )
    return flow, over


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.strides[2] != 1 or image.strides[1] != image.shape[2]:
        raise ValueError(f"image: expected uint8 (H, W, C) with contiguous pixels, got {image.dtype} {image.shape}")


def remap(
    image: np.ndarray, flow: np.ndarray, overlay: np.ndarray | None = None, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Sample uint8 ``image`` (Hs, Ws, C) at ``flow`` (H, W, 2) (bicubic), composite ``overlay``; → (H, W, C) uint8.

    The image may be a row slice of a larger array (rows strided, pixels contiguous).
    """
    _check_image(image)
    h, w = flow.shape[:2]
    _check("flow", flow, np.float32, (h, w, 2))
    if overlay is not None:
        _check("overlay", overlay, np.float32, (h, w, 4))
    c = image.shape[2]
    out = np.empty((h, w, c), np.uint8) if out is None else out
    _check("out", out, np.uint8, (h, w, c))
    core().remap_image(
        _ptr(image),
        image.shape[0],
        image.shape[1],
        c,
        image.strides[0],
        _ptr(flow),
        _ptr(overlay) if overlay is not None else 0,
        h,
        w,
        _ptr(out),
    )
    return out
