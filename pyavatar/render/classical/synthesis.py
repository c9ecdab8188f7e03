"""What the source does not show: the mouth cavity (teeth and tongue hints) and eyelid skin.

Both are premultiplied RGBA overlays on mesh vertices, so they are
interpolated across triangles like the flow and fade smoothly into the
sampled image (the rows that touch the lips are transparent): no hard seams.
Colours come from the portrait itself (lips, skin, overall brightness), so
the same code suits photos and drawings.
"""

from __future__ import annotations

import numpy as np

from pyavatar.render.classical import topology as tp
from pyavatar.render.classical.mesh import MOUTH_ROWS, Mesh, arc_params, mouth_columns


def _mean_color(image: np.ndarray, points: np.ndarray, radius: int = 2, median: bool = False) -> np.ndarray:
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


def _chain_at(points: np.ndarray, chain: tuple[int, ...], sigmas: np.ndarray) -> np.ndarray:
    pts = points[list(chain)].astype(np.float64)
    s = arc_params(pts)
    return np.stack([np.interp(sigmas, s, pts[:, 0]), np.interp(sigmas, s, pts[:, 1])], axis=1)


def mouth_opening(points: np.ndarray) -> float:
    """Median gap between the inner lips of the source, in face heights."""
    sig = mouth_columns()
    gap = np.linalg.norm(
        _chain_at(points, tp.LIPS_INNER_UPPER, sig) - _chain_at(points, tp.LIPS_INNER_LOWER, sig), axis=1
    )
    return float(np.median(gap) / max(np.linalg.norm(points[tp.FOREHEAD] - points[tp.CHIN]), 1e-9))


def mouth_split(image: np.ndarray, points: np.ndarray, samples: int = 24) -> np.ndarray:
    """Where an open source mouth parts: per mouth column, the darkest point between the inner lips.

    Returned as fractions from the upper (0) to the lower (1) lip, kept within
    0.2..0.85 and smoothed across columns, so teeth stay with their jaw.
    """
    sig = mouth_columns()
    up, lo = _chain_at(points, tp.LIPS_INNER_UPPER, sig), _chain_at(points, tp.LIPS_INNER_LOWER, sig)
    t = np.linspace(0.2, 0.85, samples)
    pts = up[:, None, :] + t[None, :, None] * (lo - up)[:, None, :]
    h, w = image.shape[:2]
    xi = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
    luma = image[yi, xi, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    luma = np.apply_along_axis(lambda r: np.convolve(np.pad(r, 2, mode="edge"), np.ones(5) / 5, "valid"), 1, luma)
    frac = t[np.argmin(luma, axis=1)]
    frac = np.convolve(np.pad(frac, 2, mode="edge"), np.ones(5) / 5, "valid")
    return np.where(np.linalg.norm(lo - up, axis=1) < 2.0, 0.5, frac)


LID_SKIN = 0.9  # opacity of the skin tint on the closed upper lid
LASH_DARK = 0.6  # opacity of the darkened lash line of a closed eye
DRAWN_LID_GAIN = 3.0  # on drawings the lid overlay is min(1, gain × blink): no half-transparent outline smear
FLAT_TEXTURE = 1.0  # mean neighbour difference (0..255) on the skin below which a face counts as drawn

# Cavity rows (see mesh.MOUTH_ROWS): alpha and a colour recipe from (lip, dark, teeth, tongue).
_ROW_ALPHA = {
    "lower_band": 0.0,
    "lower_teeth": 0.85,
    "tongue": 0.95,
    "floor": 1.0,
    "back": 1.0,
    "teeth": 0.92,
    "upper_band": 0.0,
}


def mouth_palette(image: np.ndarray, mesh: Mesh) -> dict[str, np.ndarray]:
    """Lip, cavity, tongue and teeth colours (RGB in [0, 1]) for this portrait.

    When the source already shows its teeth, the cavity's teeth row turns into
    shadow (the real teeth come along with the upper lip).
    """
    lips = _mean_color(image, mesh.source[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)])
    skin = _mean_color(image, mesh.source[[50, 280, 101, 330]], radius=3)  # both cheeks
    brightness = float(np.clip(skin.mean() / 0.6, 0.45, 1.1))
    dark = 0.22 * lips + np.array([0.03, 0.0, 0.0])
    shown = float(np.clip((mouth_opening(mesh.source.astype(np.float64)) - 0.012) / 0.025, 0, 1))
    teeth = np.clip(np.array([0.9, 0.87, 0.8]) * brightness, 0, 1)
    return {
        "lips": lips,
        "dark": dark,
        "back": 0.1 * lips + 0.01,
        "tongue": np.clip(0.4 * lips + np.array([0.06, 0.0, 0.0]), 0, 1) * min(brightness, 1.0),
        "teeth": (1 - shown) * teeth + shown * 1.3 * dark,
        "lower_teeth": 0.72 * teeth,  # in the shade of the upper lip
    }


def cavity_overlay(image: np.ndarray, mesh: Mesh) -> np.ndarray:
    """(V, 4) premultiplied RGBA: the mouth cavity rows (0 elsewhere)."""
    pal = mouth_palette(image, mesh)
    colors = {
        "tongue": pal["tongue"],
        "floor": 0.4 * pal["tongue"] + 0.6 * pal["dark"],
        "back": pal["back"],
        "teeth": pal["teeth"],
        "lower_teeth": pal["lower_teeth"],
        "lower_band": pal["lips"],
        "upper_band": pal["lips"],
    }
    out = np.zeros((mesh.num_vertices, 4), np.float32)
    for name, idx in mesh.mouth_rows.items():
        alpha = _ROW_ALPHA[name]
        rgb = np.tile(colors[name], (len(idx), 1))
        if name in ("teeth", "lower_teeth"):  # faint gaps between teeth, darker toward the corners
            n = len(idx)
            pos = np.abs(np.linspace(-1, 1, n))
            gaps = np.where(np.arange(n) % 2 == 1, 0.85, 1.0)
            rgb = rgb * (gaps * (1 - 0.45 * pos**2))[:, None]
        out[idx, :3] = alpha * rgb
        out[idx, 3] = alpha
    return out


def is_drawing(image: np.ndarray, mesh: Mesh) -> bool:
    """Whether the face is drawn in flat colours: almost no texture on the cheeks and forehead."""
    h, w = image.shape[:2]
    spread = []
    for x, y in np.round(mesh.source[[50, 280, 101, 330, 151, 337]]).astype(int):
        patch = image[max(y - 4, 0) : min(y + 5, h), max(x - 4, 0) : min(x + 5, w), :3].astype(np.float64)
        if patch.size:
            spread.append(float(np.abs(np.diff(patch.mean(axis=2), axis=1)).mean()))
    return bool(spread) and float(np.median(spread)) < FLAT_TEXTURE


def _ink(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The darkest colour (5th luma percentile, RGB in [0, 1]) in the box around ``pts``, grown by half its size."""
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.5 * (hi - lo)
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(lo - pad).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(hi + pad).astype(int) + 1, 1, [w, h])
    px = image[y0:y1, x0:x1, :3].reshape(-1, 3).astype(np.float64)
    luma = px @ np.array([0.299, 0.587, 0.114])
    return px[luma <= np.percentile(luma, 5)].mean(axis=0) / 255.0


def eyelid_overlays(image: np.ndarray, mesh: Mesh) -> dict[str, np.ndarray]:
    """Per eye side, (V, 4) premultiplied RGBA that fades in as the eye closes (× blink).

    The stretched upper lid turns into the skin colour found above it (which
    also hides whatever the stretch drags along, e.g. a drawn lid line), the
    lash line at its lower edge darkens, and the lower lash line fades out.
    On a drawing (:func:`is_drawing`) the lid is opaque skin down to its edge, and
    the drawing's own ink sits on the eye's interior and lower lid, which a shut eye
    squeezes into one thin line: a clean cartoon closed eye with no shaded band
    (the renderer also lets these overlays reach full strength early in the blink,
    :data:`DRAWN_LID_GAIN`).
    """
    drawing = is_drawing(image, mesh)
    out = {}
    for eye in mesh.eyes:
        inner, outer = eye.lid_rings
        skin = _mean_color(image, mesh.source[outer], radius=2, median=drawing)
        lash = _ink(image, mesh.source[list(eye.upper) + list(eye.lower)]) if drawing else 0.3 * skin
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
            ]
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


class CavityFade:
    """Per frame, fades each cavity column in with its opening, so a barely parted mouth shows no dark seam.

    A column's cavity stays transparent until its lips are ``FADE_FROM`` mouth
    widths further apart than in the source and is fully drawn at ``FADE_TO``:
    smiles and other lip stretches that part the lips by a sliver keep the
    source's own pixels there instead of a thin dark line.
    """

    FADE_FROM, FADE_TO = 0.03, 0.1

    def __init__(self, mesh: Mesh) -> None:
        rows = mesh.mouth_rows
        self.upper, self.lower = rows["upper_band"], rows["lower_band"]
        self.columns = np.stack([rows[name] for name, _ in MOUTH_ROWS])  # (rows, columns) vertex indices
        self.rest_gap = self._gaps(mesh.source)
        self.start, self.end = self.FADE_FROM * mesh.mouth_width, self.FADE_TO * mesh.mouth_width

    def _gaps(self, xy: np.ndarray) -> np.ndarray:
        return np.linalg.norm(xy[self.upper, :2] - xy[self.lower, :2], axis=1)

    def apply(self, positions: np.ndarray, overlay: np.ndarray) -> None:
        """Scale the cavity rows of ``overlay`` (V, 4) in place for vertex ``positions`` (V, 3)."""
        opened = self._gaps(positions) - self.rest_gap
        vis = np.clip((opened - self.start) / (self.end - self.start), 0.0, 1.0)
        overlay[self.columns] *= (vis * vis * (3 - 2 * vis))[None, :, None].astype(np.float32)
