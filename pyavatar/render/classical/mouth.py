"""The open mouth's interior: a synthesized texture (teeth, tongue, cavity) placed between the lips every frame.

At prepare time :func:`mouth_texture` paints one picture of a fully open mouth,
in *lip coordinates*: x runs across the mouth from corner to corner (one pixel
per canvas pixel of mouth width), y runs down from the upper lip. From the top:
upper teeth (shaped along the dental arch, shaded darker toward the corners and
under the lip, thin gaps between them), the shadow under them, a dark plateau
(the back of the cavity), the tongue (a mound, lit from the front, coloured
from the portrait's lips) and the lower teeth. Photos get this lit to the
portrait's skin brightness; drawings get the same layout in flat colours taken
from the drawing; animals get fangs and a pink tongue instead of incisor rows.
Teeth the portrait already shows stay its own (the rows above and below the
cavity are sampled from the source) and are left out of the texture.

The texture goes below the canvas in one *atlas* (:func:`atlas`), so the C++
sampler reads it like any other source pixel. Each frame, :meth:`MouthInterior.place`
puts the cavity's four vertex rows between the inner lips and points their
source coordinates into the texture: the upper part is anchored to the upper lip
at one texture pixel per output pixel (so the lip uncovers more of the teeth as
the jaw opens, never squashing them), the lower part to the lower lip, and only
the dark plateau between them stretches. The placement is a continuous function
of the lip gap, so consecutive frames never flicker. Every cavity vertex lies
between the inner-lip chains, so nothing outside the inner-lip polygon is drawn
from the texture. A barely parted mouth shows the source's own lip seam colour
instead (an overlay that fades out between :attr:`MouthInterior.FADE_FROM` and
:attr:`MouthInterior.FADE_TO` mouth widths of opening): no dark seam in a smile.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pyavatar.render.classical import topology as tp
from pyavatar.render.classical.mesh import CAVITY_ROWS, Mesh, mouth_columns, smoothstep
from pyavatar.render.classical.synthesis import chain_at, ink_color, looks_like_teeth, mean_color

STYLES = ("photo", "drawing", "animal")
_LUMA = np.array([0.299, 0.587, 0.114])
SCALE = 2  # texture pixels per canvas pixel: the teeth keep their shape when sampled
PAD = 2  # atlas pixels around the canvas and the texture: the bicubic taps never cross over


@dataclass(frozen=True)
class Layout:
    """Heights (texture px: :data:`SCALE` per canvas px) of the texture's bands, top to bottom, and its width."""

    upper_teeth: float  # 0 when the source shows its own upper teeth
    shadow: float  # under the upper teeth, fading into the cavity
    plateau: float  # the dark back of the cavity: the only band that stretches
    tongue: float
    lower_teeth: float  # 0 when the source shows its own lower teeth
    width: int

    @property
    def tongue_top(self) -> float:
        """Row where the tongue band starts."""
        return self.upper_teeth + self.shadow + self.plateau

    @property
    def lower_teeth_top(self) -> float:
        """Row of the lower teeth's edges (the end of the tongue band)."""
        return self.tongue_top + self.tongue

    @property
    def height(self) -> int:
        """Texture rows."""
        return int(np.ceil(self.lower_teeth_top + self.lower_teeth)) + 1


def _arch(n: int, step: float, first: float) -> np.ndarray:
    """Tooth boundaries in u (0 = mouth middle, 1 = corner) of ``n`` teeth per side along a dental arch.

    Teeth have equal arc angles (the first ``first`` times wider) on an arch seen
    from the front, so they narrow toward the corners.
    """
    angles = np.concatenate([[0.0], first * step + step * np.arange(n)])
    return np.sin(np.radians(angles)) / np.sin(np.radians(angles[-1] + 0.5 * step))


@dataclass(frozen=True)
class TeethRow:
    """One row of teeth: boundaries in u (0 = mouth middle, 1 = corner), lengths (texture px), shape and shade."""

    bounds: np.ndarray  # tooth i spans bounds[i]..bounds[i + 1] on each side
    lengths: np.ndarray  # how far each tooth reaches from its roots
    pointed: np.ndarray  # 1 for a canine's or fang's pointed tip, 0 for a flat edge
    upper: bool  # upper teeth hang from the top of the texture, lower ones rise from its bottom
    gap: float = 1.0  # strength of the dark gaps between the teeth
    light: float = 1.0


def _teeth_rows(layout: Layout, style: str) -> list[TeethRow]:
    """The texture's teeth: incisor to premolar rows for people (and drawings), one fang per side for animals."""
    if style == "animal":  # fangs: the gap before bounds[1] is no tooth (see _teeth)
        return [
            TeethRow(np.array([0.5, 0.62]), np.array([0.0, layout.upper_teeth]), np.ones(2), True),
            TeethRow(np.array([0.42, 0.52]), np.array([0.0, layout.lower_teeth]), np.ones(2), False),
        ]
    upper = TeethRow(
        _arch(5, 12.0, 1.4),
        layout.upper_teeth * np.array([1.0, 0.88, 0.95, 0.85, 0.8]),
        np.array([0.0, 0.0, 1.0, 0.0, 0.0]),  # the canine
        True,
    )
    lower = TeethRow(
        _arch(6, 10.0, 1.0),
        layout.lower_teeth * np.array([1.0, 1.0, 0.95, 0.9, 0.85, 0.8]),
        np.zeros(6),
        False,
        gap=0.5,  # small teeth in the upper lip's and teeth's shade: fainter gaps, a little darker
        light=0.88,
    )
    return [upper, lower]


def _teeth(
    u: np.ndarray, y: np.ndarray, half_width: float, row: TeethRow, root: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coverage (0..1), across-tooth offset (−1..1) and gap shade of a row of teeth with rounded edges.

    ``u`` is −1..1 across the mouth, ``y`` rows, ``half_width`` the texture's
    half width; the teeth grow from their roots at row ``root``, down (upper
    teeth) or up (lower teeth). Past the last boundary there are no teeth.
    """
    bounds, lengths = row.bounds, row.lengths
    if bounds[0] > 0:  # fangs: nothing between the middle and the first boundary
        bounds, lengths = np.concatenate([[0.0], bounds]), np.concatenate([[0.0], lengths[1:]])
    a = np.abs(u)
    i = np.clip(np.searchsorted(bounds, a, side="right") - 1, 0, len(bounds) - 2)
    lo, hi = bounds[i], bounds[i + 1]
    px_lo, px_hi = lo * half_width, hi * half_width
    x = a * half_width
    hw = np.maximum((px_hi - px_lo) / 2, 0.5)
    dx = (x - (px_lo + px_hi) / 2) / hw  # −1..1 across the tooth
    radius = 0.45 * hw
    side = np.maximum(np.abs(dx) * hw - (hw - radius), 0.0)
    round_off = radius - np.sqrt(np.maximum(radius**2 - side**2, 0.0))
    pointed = np.resize(row.pointed, len(lengths))
    point = pointed[i] * 0.22 * lengths[i] * np.abs(dx) ** 1.3
    reach = lengths[i] - round_off - point  # how far the tooth's edge reaches from its root
    depth = (y - root) if row.upper else (root - y)  # distance from the roots toward the free edge
    cover = np.clip(reach - depth + 0.5, 0.0, 1.0) * (a <= bounds[-1]) * (lengths[i] > 0)
    gap = np.minimum(x - px_lo, px_hi - x)
    gap = np.where(i == 0, px_hi - x, gap)  # the two central teeth meet at the midline
    gap = np.minimum(gap, np.abs(x))
    shade = 1.0 - 0.35 * np.exp(-((gap / 1.1) ** 2))
    return cover, dx, shade


def _palette(image: np.ndarray, mesh: Mesh, style: str, teeth_seen: np.ndarray | None) -> dict[str, np.ndarray]:
    """Colours (RGB in [0, 1]) for the texture, from the portrait."""
    lips = mean_color(image, mesh.source[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)])
    skin = mean_color(image, mesh.source[[50, 280, 101, 330]], radius=3, median=style == "drawing")
    if style == "drawing":
        ink = ink_color(image, mesh.source[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)])
        mouth = ink if np.ptp(ink) > 0.15 else 0.5 * lips + np.array([0.25, 0.0, 0.02])  # a red line, or the lips
        return {
            "teeth": np.array([0.97, 0.97, 0.95]),
            "cavity": np.clip(0.42 * mouth, 0, 1),
            "back": np.clip(0.3 * mouth, 0, 1),
            "tongue": np.clip(0.45 * mouth + 0.55 * np.array([0.93, 0.45, 0.5]), 0, 1),
        }
    brightness = float(np.clip(skin @ _LUMA / 0.55, 0.45, 1.1))
    cast = (skin / max(float(skin.mean()), 1e-3)) ** 0.25  # the photo's colour cast (warm light, film)
    teeth = np.clip(np.array([0.95, 0.93, 0.87]) * cast * brightness, 0, 0.96)
    if teeth_seen is not None:
        teeth = teeth_seen
    pink = np.array([0.82, 0.42, 0.46]) if style == "animal" else np.array([0.78, 0.36, 0.38])
    tongue = np.clip((0.45 * lips + 0.55 * pink * cast) * min(brightness, 1.0) * 1.05, 0, 1)
    return {
        "teeth": teeth,
        "cavity": np.clip(0.3 * lips * min(brightness, 1.0) + np.array([0.03, 0.0, 0.0]), 0, 1),
        "back": np.clip(0.1 * lips + 0.01, 0, 1),
        "tongue": tongue,
    }


def mouth_texture(palette: dict[str, np.ndarray], layout: Layout, style: str) -> np.ndarray:
    """(layout.height, layout.width, 3) uint8: the open mouth's interior in lip coordinates (module docstring)."""
    h, w = layout.height, layout.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy = yy + 0.5
    u = 2 * xx / max(w - 1, 1) - 1
    half = (w - 1) / 2
    flat = style == "drawing"
    near = 1 - u**2
    # cavity: dark, soft falloff toward the corners and the back; a little lighter under the upper teeth
    ramp = smoothstep(layout.upper_teeth, layout.upper_teeth + layout.shadow, yy)
    if flat:
        rgb = np.broadcast_to(palette["cavity"], (h, w, 3)).copy()
    else:
        light = (0.55 + 0.45 * near) * (1.0 - 0.45 * ramp * (1 - smoothstep(layout.tongue_top, layout.height, yy)))
        rgb = palette["back"] + (palette["cavity"] - palette["back"]) * light[..., None]
    # tongue: a mound rising in the middle, lit from the front (the lower teeth side)
    mound = layout.tongue * (0.9 - 0.5 * u**2)
    top = layout.lower_teeth_top - mound
    inside = np.clip(yy - top + 0.5, 0.0, 1.0) * (np.abs(u) < 0.98)
    if flat:
        tongue = np.broadcast_to(palette["tongue"], (h, w, 3))
    else:
        front = smoothstep(top, top + 0.8 * layout.tongue, yy)
        groove = 1 - 0.18 * np.exp(-((u * half / 2.0) ** 2)) * front
        shade = (0.45 + 0.55 * front) * (1 - 0.45 * u**2) * groove
        tongue = palette["tongue"] * shade[..., None]
    rgb = rgb + (tongue - rgb) * inside[..., None]
    bottom = layout.lower_teeth_top + layout.lower_teeth
    for row in _teeth_rows(layout, style):
        root = 0.0 if row.upper else bottom
        cover, dx, gaps = _teeth(u, yy, half, row, root)
        if flat:
            color = np.broadcast_to(palette["teeth"], (h, w, 3))
        else:
            depth = (yy - root) if row.upper else (root - yy)  # from the roots (under the lip)
            lip_shadow = 0.8 + 0.2 * smoothstep(0.0, 0.45 * max(float(row.lengths.max()), 1.0), depth)
            gaps = 1 - row.gap * (1 - gaps)
            shade = (1 - 0.5 * np.abs(u) ** 1.6) * (1 - 0.1 * dx**2) * gaps * lip_shadow * row.light
            shadow = palette["cavity"]  # shade toward the mouth's own warm dark, not toward grey
            color = shadow + (palette["teeth"] - shadow) * shade[..., None]
        rgb = rgb + (color - rgb) * cover[..., None]
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def _teeth_shown(image: np.ndarray, mesh: Mesh, split: np.ndarray, upper: bool) -> np.ndarray | None:
    """The colour of the teeth the source shows between one inner lip and its split line, or None if it shows none."""
    sig = mouth_columns()[3:-3]  # the middle of the mouth
    up = chain_at(mesh.source.astype(np.float64), tp.LIPS_INNER_UPPER, sig)
    lo = chain_at(mesh.source.astype(np.float64), tp.LIPS_INNER_LOWER, sig)
    f = split[3:-3, None]
    a, b = (up, up + f * (lo - up)) if upper else (up + f * (lo - up), lo)
    if np.median(np.linalg.norm(b - a, axis=1)) < 0.04 * mesh.mouth_width:
        return None
    t = np.linspace(0.25, 0.75, 5)
    pts = (a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]).reshape(-1, 2)
    hgt, wid = image.shape[:2]
    xi = np.clip(np.round(pts[:, 0]).astype(int), 0, wid - 1)
    yi = np.clip(np.round(pts[:, 1]).astype(int), 0, hgt - 1)
    px = image[yi, xi, :3].astype(np.float64)
    bright = looks_like_teeth(px, mean_color(image, mesh.source[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)]))
    if bright.mean() < 0.5:
        return None
    px = px / 255.0
    return np.median(px[bright], axis=0)


def atlas(
    canvas: np.ndarray, texture: np.ndarray, low: tuple[float, float], high: tuple[float, float]
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The canvas with ``texture`` below it, the texture's (x, y) origin in it and the canvas's (x, y) offset.

    Around the canvas, out to the smallest and largest source x, y any canvas vertex has
    (``low``, ``high``: a face template may reach past the image) plus :data:`PAD`, the
    canvas is mirrored at its edges: what a turned head brings into view from beyond the
    image continues the texture there (fur, hair, background) instead of smearing the
    edge's last row into streaks, and no canvas sample reads a texture pixel.
    """
    h, w, c = canvas.shape
    th, tw = texture.shape[:2]
    left, top = (max(0, int(np.ceil(-v))) + PAD for v in low)
    cols = left + max(w, int(np.ceil(high[0])) + 1) + PAD
    rows = top + max(h, int(np.ceil(high[1])) + 1) + PAD
    out = np.zeros((rows + 2 * PAD + th, max(cols, tw + 2 * PAD), c), np.uint8)
    out[:rows, :cols] = cv2.copyMakeBorder(canvas, top, rows - top - h, left, cols - left - w, cv2.BORDER_REFLECT_101)
    out[rows:, : tw + 2 * PAD, :3] = np.pad(texture, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="edge")
    if c == 4:
        out[rows:, :, 3] = 255
    return out, (PAD, rows + PAD), (left, top)


class MouthInterior:
    """The synthesized mouth interior of one portrait: its texture and the per-frame placement.

    Args:
        image: the canvas the mesh lives on.
        mesh: the mesh (with the cavity rows of :data:`~pyavatar.render.classical.mesh.CAVITY_ROWS`).
        split: per mouth column, where the source's mouth parts (see ``synthesis.mouth_split``).
        style: ``"photo"``, ``"drawing"`` or ``"animal"``.
    """

    FADE_FROM, FADE_TO = 0.03, 0.1  # opening (mouth widths) over which the cavity replaces the lip seam
    SHOW_UPPER, SHOW_LOWER = 0.45, 0.18  # share of the opening the upper / lower teeth take until fully shown

    def __init__(self, image: np.ndarray, mesh: Mesh, split: np.ndarray, style: str) -> None:
        if style not in STYLES:
            raise ValueError(f"mouth style must be one of {STYLES}, got {style!r}")
        mw = mesh.mouth_width * SCALE
        upper_seen = _teeth_shown(image, mesh, split, upper=True) if style == "photo" else None
        lower_seen = _teeth_shown(image, mesh, split, upper=False) if style == "photo" else None
        teeth_h = 0.16 if style != "animal" else 0.13
        self.layout = Layout(
            upper_teeth=0.0 if upper_seen is not None else teeth_h * mw,
            shadow=0.1 * mw,
            plateau=max(3.0, 0.04 * mw),
            tongue=0.17 * mw,
            lower_teeth=0.0 if lower_seen is not None else (0.1 if style != "animal" else 0.08) * mw,
            width=max(int(round(mw)), 8),
        )
        seen = upper_seen if upper_seen is not None else lower_seen
        self.style = style
        self.texture = mouth_texture(_palette(image, mesh, style, seen), self.layout, style)
        rows = mesh.mouth_rows
        self.top, self.upper, self.lower, self.bottom = (rows[name] for name, _ in CAVITY_ROWS)
        self.corners = rows["cavity_corners"]
        self.lip_corners = np.array([tp.LIPS_INNER_UPPER[0], tp.LIPS_INNER_UPPER[-1]])
        self.upper_band, self.lower_band = rows["upper_band"], rows["lower_band"]
        sig = mouth_columns()
        chain = mesh.source[self.lip_corners[1]] - mesh.source[self.lip_corners[0]]
        down = mesh.frame.v
        if chain[0] * down[1] - chain[1] * down[0] < 0:  # texture x must run like the columns do in the image
            sig = 1 - sig
        self._sigma = sig
        self._mw = mw
        seam = self._seam(image, mesh)
        self.seam = seam.astype(np.float32)
        self.origin = (0.0, 0.0)

    @staticmethod
    def _seam(image: np.ndarray, mesh: Mesh) -> np.ndarray:
        """(columns, 3) the source's colour (RGB in [0, 1]) where each mouth column's lips meet."""
        top = mesh.mouth_rows["upper_band"]
        return np.stack([mean_color(image, mesh.source[[i]], radius=1) for i in top])

    def place(self, positions: np.ndarray, source: np.ndarray, overlay: np.ndarray) -> None:
        """Put the cavity rows of this frame in place: ``positions`` x, y, ``source`` and ``overlay`` rows, in place.

        ``positions`` (V, 3) come from the rig (the band rows follow the lips);
        ``source`` (V, 2) is the atlas source of every vertex, ``overlay`` (V, 4).
        """
        lay = self.layout
        top = positions[self.upper_band, :2].astype(np.float64)
        bottom = positions[self.lower_band, :2].astype(np.float64)
        d = bottom - top
        gap = np.linalg.norm(d, axis=1)
        n = d / np.maximum(gap, 1e-6)[:, None]
        opening = SCALE * gap  # in texture px
        hu = np.minimum(lay.upper_teeth, self.SHOW_UPPER * opening)
        hl = np.minimum(lay.lower_teeth, self.SHOW_LOWER * opening)
        middle = np.maximum(opening - hu - hl, 0.0)
        share = lay.shadow / (lay.shadow + lay.tongue)
        mu = np.minimum(lay.shadow, share * middle)
        ml = np.minimum(lay.tongue, (1 - share) * middle)
        ox, oy = self.origin
        x = ox + self._sigma * (lay.width - 1)
        rows = (
            (self.top, top, lay.upper_teeth - hu),
            (self.upper, top + (hu + mu)[:, None] * n / SCALE, lay.upper_teeth + mu),
            (self.lower, bottom - (hl + ml)[:, None] * n / SCALE, lay.lower_teeth_top - ml),
            (self.bottom, bottom, lay.lower_teeth_top + hl),
        )
        vis = smoothstep(self.FADE_FROM * self._mw, self.FADE_TO * self._mw, opening)
        keep = (1 - vis).astype(np.float32)[:, None]
        for idx, pos, ty in rows:
            positions[idx, :2] = pos
            source[idx, 0] = x
            source[idx, 1] = oy + ty
            overlay[idx, :3] = keep * self.seam
            overlay[idx, 3] = keep[:, 0]
        positions[self.corners, :2] = positions[self.lip_corners, :2]
        source[self.corners, 0] = x[[0, -1]] + np.array([-1.0, 1.0]) * (x[-1] - x[0]) / (len(x) + 1)
        source[self.corners, 1] = oy + lay.upper_teeth + lay.shadow
        overlay[self.corners, :3] = self.seam[[0, -1]]
        overlay[self.corners, 3] = 1.0
