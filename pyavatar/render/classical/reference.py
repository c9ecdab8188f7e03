"""A plain OpenCV per-triangle warp of the classical renderer's mesh: the speed and sanity reference.

Each triangle of the deformed mesh gets its own affine transform
(``cv2.getAffineTransform``), the source patch under it is warped with
``cv2.warpAffine`` and copied through a ``cv2.fillConvexPoly`` mask, far
triangles first. It draws only what the source shows (no synthesised mouth
or lids) and leaves pixels no triangle covers as they were.
"""

from __future__ import annotations

import cv2
import numpy as np


def triangle_warp(image: np.ndarray, source: np.ndarray, positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Warp ``image`` (h, w, C) uint8 triangle by triangle from ``source`` (V, 2) to ``positions`` (V, 3).

    Args:
        image: the canvas.
        source: per-vertex source positions (pixels).
        positions: per-vertex output x, y and depth (smaller = nearer; drawn last).
        triangles: (T, 3) vertex indices.
    """
    h, w = image.shape[:2]
    out = image.copy()
    order = np.argsort(-positions[triangles, 2].mean(axis=1), kind="stable")
    for tri in triangles[order]:
        dst = positions[tri, :2].astype(np.float32)
        src = source[tri].astype(np.float32)
        if abs(float(np.cross(dst[1] - dst[0], dst[2] - dst[0]))) < 1e-3:
            continue
        if abs(float(np.cross(src[1] - src[0], src[2] - src[0]))) < 1e-3:
            continue
        x, y, bw, bh = cv2.boundingRect(dst)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 <= x0 or y1 <= y0:
            continue
        sx, sy, sw, sh = cv2.boundingRect(src)
        sx0, sy0 = max(sx - 1, 0), max(sy - 1, 0)
        sx1, sy1 = min(sx + sw + 1, w), min(sy + sh + 1, h)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        m = cv2.getAffineTransform(src - np.float32([sx0, sy0]), dst - np.float32([x0, y0]))
        patch = cv2.warpAffine(
            image[sy0:sy1, sx0:sx1], m, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
        )
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst - np.float32([x0, y0])).astype(np.int32), 1)
        region = out[y0:y1, x0:x1]
        np.copyto(region, patch.reshape(region.shape), where=mask[..., None].astype(bool))
    return out
