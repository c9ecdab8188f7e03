"""The C++ flow rasterizer and sampler behind the classical renderer (pyavatar._core.raster_flow / remap_image)."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.render.classical import raster


def _quad(w: int, h: int, depth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two triangles covering a w×h canvas (pixel edges), positions (4, 3) and triangles (2, 3)."""
    pos = np.array([[-0.5, -0.5, depth], [w - 0.5, -0.5, depth], [w - 0.5, h - 0.5, depth], [-0.5, h - 0.5, depth]])
    return pos.astype(np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def _image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys cubic weights (a = -1.2, as the C++ sampler) of the taps at -1, 0, 1, 2 for fractions ``t``."""
    a = -1.2
    d = np.stack([t + 1, t, 1 - t, 2 - t], axis=-1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def _remap_reference(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bicubic sampling (clamped to the 4x4 taps' range; coordinates clamped to the image, edges replicated)."""
    h, w = image.shape[:2]
    x = np.clip(flow[..., 0].astype(np.float64), 0, w - 1)
    y = np.clip(flow[..., 1].astype(np.float64), 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    wx, wy = _cubic(x - x0), _cubic(y - y0)
    img = image.astype(np.float64)
    out = np.zeros((*flow.shape[:2], image.shape[2]))
    lo, hi = np.full_like(out, 255.0), np.zeros_like(out)
    for j in range(4):
        yj = np.clip(y0 - 1 + j, 0, h - 1)
        for i in range(4):
            xi = np.clip(x0 - 1 + i, 0, w - 1)
            out += (wy[..., j] * wx[..., i])[..., None] * img[yj, xi]
            lo, hi = np.minimum(lo, img[yj, xi]), np.maximum(hi, img[yj, xi])
    return np.clip(out, lo, hi)


def test_identity_mesh_gives_identity_flow_and_exact_copy() -> None:
    w, h = 37, 23
    pos, tris = _quad(w, h)
    flow, over = raster.rasterize_flow(pos, np.ascontiguousarray(pos[:, :2]), tris, (w, h))
    assert over is None
    ys, xs = np.mgrid[0:h, 0:w]
    np.testing.assert_allclose(flow[..., 0], xs, atol=1e-4)
    np.testing.assert_allclose(flow[..., 1], ys, atol=1e-4)
    img = _image(h, w)
    np.testing.assert_array_equal(raster.remap(img, flow), img)


def test_translated_mesh_samples_backward() -> None:
    w, h = 40, 30
    pos, tris = _quad(w, h)
    src = np.ascontiguousarray(pos[:, :2])
    moved = pos.copy()
    moved[:, :2] += np.array([5.0, 3.0], np.float32)  # content moves right 5, down 3
    img = _image(h, w, seed=1)
    flow, _ = raster.rasterize_flow(moved, src, tris, (w, h))
    out = raster.remap(img, flow)
    np.testing.assert_array_equal(out[3:, 5:], img[:-3, :-5])
    # pixels the moved mesh no longer covers map to themselves
    np.testing.assert_array_equal(out[:3, :], img[:3, :])
    np.testing.assert_array_equal(out[:, :5], img[:, :5])


def test_depth_test_keeps_the_nearest_triangle_in_any_order() -> None:
    w, h = 16, 16
    near, tris = _quad(w, h, depth=-1.0)
    far, _ = _quad(w, h, depth=5.0)
    positions = np.concatenate([far, near]).astype(np.float32)
    source = np.concatenate([np.full((4, 2), 2.0), np.full((4, 2), 9.0)]).astype(np.float32)
    for order in (np.concatenate([tris, tris + 4]), np.concatenate([tris + 4, tris])):
        flow, _ = raster.rasterize_flow(positions, source, np.ascontiguousarray(order), (w, h))
        np.testing.assert_allclose(flow, 9.0, atol=1e-5)


def test_overlay_is_premultiplied_and_interpolated() -> None:
    w, h = 20, 10
    pos, tris = _quad(w, h)
    src = np.ascontiguousarray(pos[:, :2])
    overlay = np.zeros((4, 4), np.float32)
    overlay[:, :3] = 0.5 * np.array([1.0, 0.0, 0.0])  # half-transparent red everywhere
    overlay[:, 3] = 0.5
    img = np.full((h, w, 3), 100, np.uint8)
    flow, over = raster.rasterize_flow(pos, src, tris, (w, h), overlay)
    np.testing.assert_allclose(over, np.broadcast_to(overlay[0], over.shape), atol=1e-6)
    out = raster.remap(img, flow, over)
    np.testing.assert_array_equal(out[..., 0], np.full((h, w), round(100 * 0.5 + 255 * 0.5)))
    np.testing.assert_array_equal(out[..., 1:], 50)
    # a gradient of alpha across the canvas: left edge clear, right edge opaque black
    overlay = np.zeros((4, 4), np.float32)
    overlay[[1, 2], 3] = 1.0
    flow, over = raster.rasterize_flow(pos, src, tris, (w, h), overlay)
    out = raster.remap(img, flow, over)
    assert (np.diff(out[5, :, 0].astype(int)) <= 0).all() and out[5, 0, 0] > 90 and out[5, -1, 0] < 10


def test_remap_matches_bicubic_reference_for_random_flow() -> None:
    rng = np.random.default_rng(4)
    img = _image(31, 45, c=4, seed=2)
    flow = np.stack([rng.uniform(-3, 48, (20, 25)), rng.uniform(-3, 34, (20, 25))], axis=-1).astype(np.float32)
    out = raster.remap(img, flow)
    ref = _remap_reference(img, flow)
    assert np.abs(out.astype(np.float64) - ref).max() <= 0.51
    # a row slice of a larger image (strided rows) samples the same pixels
    big = _image(31, 60, c=4, seed=2)
    big[:, :45] = img
    np.testing.assert_array_equal(raster.remap(big[:, :45], flow), out)


def test_fused_sampling_and_threads_give_identical_results() -> None:
    w, h = 64, 48
    rng = np.random.default_rng(5)
    grid = np.stack(np.meshgrid(np.linspace(-0.5, w - 0.5, 6), np.linspace(-0.5, h - 0.5, 5)), -1).reshape(-1, 2)
    tris = []
    for r in range(4):
        for c in range(5):
            a = r * 6 + c
            tris += [(a, a + 1, a + 7), (a, a + 7, a + 6)]
    tris = np.array(tris, np.int32)
    inner = (grid[:, 0] > 0) & (grid[:, 0] < w - 1) & (grid[:, 1] > 0) & (grid[:, 1] < h - 1)
    moved = grid + inner[:, None] * rng.uniform(-3, 3, grid.shape)
    positions = np.concatenate([moved, rng.uniform(0, 1, (len(grid), 1))], axis=1).astype(np.float32)
    source = grid.astype(np.float32)
    overlay = rng.uniform(0, 0.5, (len(grid), 4)).astype(np.float32)
    img = _image(h, w, seed=3)
    results = []
    before = raster.core().get_num_threads()
    try:
        for threads in (1, 2):
            raster.set_threads(threads)
            flow, over = raster.rasterize_flow(positions, source, tris, (w, h), overlay)
            fused = np.empty_like(img)
            raster.rasterize_flow(positions, source, tris, (w, h), overlay, sample=(img, fused))
            np.testing.assert_array_equal(fused, raster.remap(img, flow, over))
            results.append((flow.copy(), fused))
    finally:
        raster.set_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_arguments_are_checked_by_name() -> None:
    pos, tris = _quad(8, 8)
    src = np.ascontiguousarray(pos[:, :2])
    with pytest.raises(ValueError, match="positions"):
        raster.rasterize_flow(pos.astype(np.float64), src, tris, (8, 8))
    with pytest.raises(ValueError, match="triangles"):
        raster.rasterize_flow(pos, src, tris + 3, (8, 8))
    with pytest.raises(ValueError, match="source"):
        raster.rasterize_flow(pos, src[:3].copy(), tris, (8, 8))
    with pytest.raises(ValueError, match="size"):
        raster.rasterize_flow(pos, src, tris, (0, 8))
    with pytest.raises(ValueError, match="image"):
        raster.remap(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="threads"):
        raster.set_threads(0)
