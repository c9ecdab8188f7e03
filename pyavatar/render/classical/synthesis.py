"""What the source does not show, and what the portrait's colours are: eyelid skin, lip seams, ink.

The eyelids are premultiplied RGBA overlays on mesh vertices, interpolated
across triangles like the flow, so they fade smoothly into the sampled image.
Colours come from the portrait itself (lips, skin, ink), so the same code
suits photos and drawings. The mouth interior is in :mod:`.mouth`.
"""

from __future__ import annotations

import numpy as np

from pyavatar.render.classical import topology as tp
from pyavatar.render.classical.deform import LID_CLOSE_AT
from pyavatar.render.classical.mesh import Eye, Mesh, arc_params, mouth_columns, smoothstep


def mean_color(image: np.ndarray, points: np.ndarray, radius: int = 2, median: bool = False) -> np.ndarray:
    """Mean (or per-channel median: ignores a drawing's ink) RGB in [0, 1] of small squares around ``points``."""
    h, w = image.shape[:2]
    samples = []
    for x, y in np.round(points).astype(int):
        x0, x1 = np.clip([x - radius, x + radius + 1], 0, w)
        y0, y1 = np.clip([y - radius, y + radius + 1], 0, h)
        if x1 > x0 and y1 > y0:
            samples.append(image[y0:y1, x0:x1, :3].reshape(-1, 3))
    if not samples:
        return np.full(3, 0.5)
    pixels = np.concatenate(samples)
    return (np.median(pixels, axis=0) if median else pixels.mean(axis=0)) / 255.0


def chain_at(points: np.ndarray, chain: tuple[int, ...], sigmas: np.ndarray) -> np.ndarray:
    """(len(sigmas), 2) points at arc parameters ``sigmas`` (0..1) along the landmark ``chain`` of ``points``."""
    pts = points[list(chain)].astype(np.float64)
    s = arc_params(pts)
    return np.stack([np.interp(sigmas, s, pts[:, 0]), np.interp(sigmas, s, pts[:, 1])], axis=1)


def mouth_opening(points: np.ndarray) -> float:
    """Median gap between the inner lips of the source, in face heights."""
    sig = mouth_columns()
    gap = np.linalg.norm(
        chain_at(points, tp.LIPS_INNER_UPPER, sig) - chain_at(points, tp.LIPS_INNER_LOWER, sig), axis=1
    )
    return float(np.median(gap) / max(np.linalg.norm(points[tp.FOREHEAD] - points[tp.CHIN]), 1e-9))


def looks_like_teeth(rgb: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """Which (..., 3) ``rgb`` samples (0..255) look like teeth: brighter than the ``lips`` (RGB 0..1), unsaturated."""
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    return (luma > max(1.2 * 255 * float(lips @ np.array([0.299, 0.587, 0.114])), 100.0)) & (np.ptp(rgb, axis=-1) < 90)


def mouth_split(image: np.ndarray, points: np.ndarray, samples: int = 24) -> np.ndarray:
    """Where an open source mouth parts: per mouth column, below the upper teeth it shows, else its darkest point.

    Returned as fractions from the upper (0) to the lower (1) lip, kept within
    0.2..0.85 and smoothed across columns, so teeth stay with their jaw: a
    column with a run of teeth (bright, unsaturated, starting in
    the upper half) parts just below that run (the shadow above the teeth is
    often darker than the gap below them).
    """
    sig = mouth_columns()
    up, lo = chain_at(points, tp.LIPS_INNER_UPPER, sig), chain_at(points, tp.LIPS_INNER_LOWER, sig)
    t = np.linspace(0.2, 0.85, samples)
    pts = up[:, None, :] + t[None, :, None] * (lo - up)[:, None, :]
    h, w = image.shape[:2]
    xi = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
    rgb = image[yi, xi, :3].astype(np.float64)
    raw = rgb @ np.array([0.299, 0.587, 0.114])
    luma = np.apply_along_axis(lambda r: np.convolve(np.pad(r, 2, mode="edge"), np.ones(5) / 5, "valid"), 1, raw)
    frac = t[np.argmin(luma, axis=1)]
    teeth = looks_like_teeth(rgb, mean_color(image, points[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)]))
    for c in range(len(sig)):
        run = np.flatnonzero(teeth[c])
        if run.size and run[0] < samples // 2:  # upper teeth: part just below their first run
            end = int(run[0])
            while end + 1 < samples and teeth[c, end + 1]:
                end += 1
            frac[c] = t[min(end + 1, samples - 1)]
    frac = np.convolve(np.pad(frac, 2, mode="edge"), np.ones(5) / 5, "valid")
    return np.where(np.linalg.norm(lo - up, axis=1) < 2.0, 0.5, frac)


LID_SKIN = 0.9  # opacity of the skin tint on the closed upper lid
LASH_DARK = 0.6  # opacity of the darkened lash line of a closed eye
DRAWN_LID_GAIN = 3.0  # on drawings the lid overlay is min(1, gain × blink): no half-transparent outline smear
FLAT_TEXTURE = 1.0  # mean neighbour difference (0..255) on the skin below which a face counts as drawn


def is_drawing(image: np.ndarray, mesh: Mesh) -> bool:
    """Whether the face is drawn in flat colours: almost no texture on the cheeks and forehead."""
    h, w = image.shape[:2]
    spread = []
    for x, y in np.round(mesh.source[[50, 280, 101, 330, 151, 337]]).astype(int):
        patch = image[max(y - 4, 0) : min(y + 5, h), max(x - 4, 0) : min(x + 5, w), :3].astype(np.float64)
        if patch.size:
            spread.append(float(np.abs(np.diff(patch.mean(axis=2), axis=1)).mean()))
    return bool(spread) and float(np.median(spread)) < FLAT_TEXTURE


def ink_color(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The darkest colour (5th luma percentile, RGB in [0, 1]) in the box around ``pts``, grown by half its size."""
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.5 * (hi - lo)
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(lo - pad).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(hi + pad).astype(int) + 1, 1, [w, h])
    px = image[y0:y1, x0:x1, :3].reshape(-1, 3).astype(np.float64)
    luma = px @ np.array([0.299, 0.587, 0.114])
    return px[luma <= np.percentile(luma, 5)].mean(axis=0) / 255.0


def _second_ring_below(mesh: Mesh, eye: Eye) -> list[int]:
    """The surface landmarks of the second ring around the eye that lie below its lids."""
    ring = tp.rings_around(tuple(set(eye.upper) | set(eye.lower)), 2)[1]
    src = mesh.source.astype(np.float64)
    center = (src[list(eye.upper)].mean(axis=0) + src[list(eye.lower)].mean(axis=0)) / 2
    up = src[list(eye.upper)].mean(axis=0) - src[list(eye.lower)].mean(axis=0)
    return [i for i in ring if (src[i] - center) @ up <= 0 and i not in eye.lower_ring]


def eyelid_overlays(image: np.ndarray, mesh: Mesh, fur: bool = False) -> dict[str, np.ndarray]:
    """Per eye side, (V, 4) premultiplied RGBA that fades in as the eye closes (× blink).

    The stretched upper lid turns into the skin colour found above it (which
    also hides whatever the stretch drags along, e.g. a drawn lid line), the
    lash line at its lower edge darkens, and the lower lash line fades out.
    On a drawing (:func:`is_drawing`) the lid is opaque skin down to its edge, and
    the drawing's own ink sits on the eye's interior and lower lid, which a shut eye
    squeezes into one thin line: a clean cartoon closed eye with no shaded band
    (the renderer also lets these overlays reach full strength early in the blink,
    :data:`DRAWN_LID_GAIN`). With ``fur`` (animals) the lid is the fur that
    :class:`LidShutter` slides over the eye: only the lower lid is tinted.
    """
    drawing = is_drawing(image, mesh)
    out = {}
    for eye in mesh.eyes:
        inner, outer = eye.lid_rings
        skin = mean_color(image, mesh.source[outer], radius=2, median=drawing)
        lash = ink_color(image, mesh.source[list(eye.upper) + list(eye.lower)]) if drawing else 0.3 * skin
        o = np.zeros((mesh.num_vertices, 4), np.float32)
        upper, lower = list(eye.upper[1:-1]), list(eye.lower[1:-1])
        if drawing:  # opaque skin lid; the ink sits on the eye's interior rows, squeezed into a thin line when shut
            layers = [
                (inner, 1.0, skin),
                (outer, 1.0, skin),
                (upper, 1.0, skin),
                (list(eye.interior), 1.0, lash),
                (lower, 1.0, lash),
                (eye.lower_ring, 1.0, skin),
                (_second_ring_below(mesh, eye), 1.0, skin),  # over a thick drawn lower outline
            ]
        elif fur:  # the lid is the fur slid down over the eye (LidShutter); the lower lid still fades into the fur
            layers = [(lower, 0.7, skin), (eye.lower_ring, 0.3, skin)]
        else:
            layers = [
                (inner, LID_SKIN, skin),
                (outer, 0.35, skin),
                (upper, LASH_DARK, lash),
                (lower, 0.7, skin),
                (eye.lower_ring, 0.3, skin),
            ]
        for rows, alpha, color in layers:
            o[rows, :3] = alpha * color
            o[rows, 3] = alpha
        out[eye.side] = o
    return out


class LidShutter:
    """An animal's closing lid: the fur above the eye slides down over it, instead of a lid-coloured shell.

    A human lid is skin that stretches down over the eye (the rig's blink basis,
    tinted by :func:`eyelid_overlays`). An animal's (face template fitted to the
    eye rims) would stretch a thin band of fur several times. Here, for an
    animal, the upper lid and its rings stay put and the eye's shutter strip
    (:attr:`~pyavatar.render.classical.mesh.Eye.shutter`) opens from just above
    the lid line (it rises by ``RIM`` of the lid travel, over the rim's dark
    edge) down to where the blink basis would have taken the lid; its source is
    the image above the eye translated by the same travel, so the lid is the
    fur at its own scale with the eye's rim as the dark line where the lids
    meet. For other portraits the strip stays collapsed onto the lid.
    """

    RIM = 0.12  # how far the shutter's top rises above the lid line when shut, in lid travels
    SOFTEN = 0.35  # opacity of the fur's mean colour at the shutter's top edge (fading out downward): a soft seam

    def __init__(
        self, image: np.ndarray, mesh: Mesh, blink_bases: dict[str, np.ndarray] | None, rest: np.ndarray | None = None
    ) -> None:
        self.eyes = []
        for eye in mesh.eyes:
            lid = np.array(eye.upper[1:-1])
            # the blink takes the lid LID_CLOSE_AT of the way to the lower lid, which rises the rest: go all the way
            travel = None if blink_bases is None else blink_bases[eye.side][lid].astype(np.float64) / LID_CLOSE_AT
            fur = mean_color(image, mesh.source[eye.lid_rings[1]], radius=2).astype(np.float32)
            self.eyes.append((eye.side, lid, eye.shutter[0], eye.shutter[1], travel, fur))
        self.rest = mesh.source if rest is None else rest  # the vertices' source coordinates in the sampled atlas

    def place(self, positions: np.ndarray, source: np.ndarray, overlay: np.ndarray, blinks: dict[str, float]) -> None:
        """Set the shutter rows of ``positions`` (V, 3), ``source`` (V, 2) and ``overlay`` (V, 4) for ``blinks``.

        ``blinks`` maps each eye side to its blink coefficient (0..1).
        """
        for side, lid, top, bottom, travel, fur in self.eyes:
            edge = positions[lid, :2].astype(np.float64)
            if travel is None or blinks[side] <= 0:
                positions[top, :2] = positions[bottom, :2] = edge
                source[top] = source[bottom] = self.rest[lid]
                continue
            b = blinks[side]
            length = np.linalg.norm(travel, axis=1, keepdims=True)
            down = travel / np.maximum(length, 1e-9)
            rim = self.RIM * length * float(smoothstep(0.0, 0.35, b))
            moved = b * travel
            positions[top, :2] = edge - rim * down
            positions[bottom, :2] = edge + moved
            source[top] = self.rest[lid] - rim * down - moved
            source[bottom] = self.rest[lid]
            overlay[top, :3] = self.SOFTEN * fur
            overlay[top, 3] = self.SOFTEN
