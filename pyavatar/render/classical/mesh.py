"""The deformable mesh: face surface, eye and mouth interiors, and rings out to the canvas border.

Vertices:

* the 478 landmarks (the 468 surface points carry MediaPipe's tesselation;
  the 10 iris points only locate the irises);
* each eye's interior, a lens of rows between the lower and upper lid chains;
* the mouth interior between the inner-lip chains: a band attached to the
  upper lip, the cavity (synthesised), a band attached to the lower lip;
* two rings between the face oval and the canvas border, and the border
  itself (it stays on the border: where the face reaches it, its source
  slides with the head instead, :attr:`Mesh.border`).

Every vertex has a source position (canvas pixels) and depth, and a row of
:attr:`Mesh.derive` that says how it moves: its displacement is that row
times the landmarks' displacements. :attr:`Mesh.rigid` is how much of the head
motion it follows (1 on the face, falling to 0 at the border unless the face reaches
it). :attr:`Mesh.turn_depth` keeps a turn's far side from folding over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from pyavatar.render.classical import topology as tp

EYE_COLUMNS = 11
EYE_ROWS = (0.25, 0.5, 0.75)  # fraction of the way from the lower to the upper lid
MOUTH_COLUMNS = 13
# The mouth interior between the inner-lip chains. Two bands, sampled from the source, start on the line
# where the source's interior parts (its darkest line between the lips) and follow their lip: they carry
# whatever the source shows there (its own teeth, the lip seam). Between them, four cavity rows (top to
# bottom, each with the lip whose motion its depth follows most, 1 = upper) whose positions and source
# coordinates are set every frame (mouth.MouthInterior.place): they draw the synthesized interior.
BAND_ROWS = ("lower_band", "upper_band")
CAVITY_ROWS = (("cavity_top", 1.0), ("cavity_upper", 0.8), ("cavity_lower", 0.2), ("cavity_bottom", 0.0))
RING_FRACTIONS = (0.3, 0.65)  # rings between the face oval (0) and the canvas border (1)
BORDER_REACH = 0.25  # face widths from the canvas border within which the face's motion reaches the border
DEPTH_SLOPE = 3.0  # steepest face-surface triangle (depth px per image px): see limit_depth_slope
TURN_YAW, TURN_PITCH = 25.0, 15.0  # up to these turns (degrees, and both at once) the side turning away is
TURN_SQUASH = 0.3  # squashed to no less than this, never folded over (see turn_fields)
TURN_DIRECTIONS = 16  # directions (in the face frame) with their own Mesh.turn_depth
TURN_SMOOTHING = 10  # neighbour-averaging rounds of each field: no crease where the squash starts


@dataclass(frozen=True)
class FaceFrame:
    """Face-aligned axes in the canvas: ``u`` from the image-left eye to the image-right eye, ``v`` down the face.

    (u, v, depth) is right-handed like (x right, y down, z away from the camera).
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def to_face(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) canvas points → (N, 2) (u, v) face coordinates in pixels."""
        d = np.asarray(xy, np.float64) - self.origin
        return np.stack([d @ self.u, d @ self.v], axis=-1)

    def vectors_to_canvas(self, uv: np.ndarray) -> np.ndarray:
        """(…, 2) face-frame vectors → canvas vectors."""
        return uv[..., :1] * self.u + uv[..., 1:2] * self.v


@dataclass
class Eye:
    """One eye: lid chains (outer corner first), iris and interior vertices."""

    upper: tuple[int, ...]
    lower: tuple[int, ...]
    iris_center: np.ndarray  # canvas px
    iris_radius: float
    interior: np.ndarray  # vertex indices of the lens
    lid_rings: tuple[list[int], list[int]]  # surface landmarks in the first two rings above the upper lid
    lower_ring: list[int]  # first ring below the lower lid
    side: str  # "left" or "right": the avatar's own side
    shutter: tuple[np.ndarray, np.ndarray] = (np.zeros(0, int), np.zeros(0, int))  # (top, bottom) lid-shutter rows


@dataclass
class Mesh:
    """See the module docstring."""

    source: np.ndarray  # (V, 2) float32 source (and rest) positions, canvas pixels
    depth: np.ndarray  # (V,) float32, pixels, smaller = nearer the camera
    triangles: np.ndarray  # (T, 3) int32
    derive: np.ndarray  # (V, 478) float32
    rigid: np.ndarray  # (V,) float32 head-motion weight
    frame: FaceFrame
    face_height: float
    face_width: float
    mouth_width: float
    eyes: tuple[Eye, Eye]  # avatar's left eye first
    mouth_rows: dict[str, np.ndarray] = field(default_factory=dict)  # row name → vertex indices
    turn_depth: np.ndarray | None = None  # (TURN_DIRECTIONS, V) depth shifts for the side turning away: turn_fields
    border: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # vertices on the canvas border: they
    # stay there, and what the head's motion (Mesh.rigid) would move them by slides their source the other way
    size: tuple[int, int] = (0, 0)  # canvas (width, height)
    valid: np.ndarray | None = None  # (4, 2) where the canvas holds image pixels (not a replicated border)

    @property
    def num_vertices(self) -> int:
        """Vertices of the mesh."""
        return len(self.source)


class _Builder:
    """Accumulates vertices (source, depth, derive row, rigid weight) and triangles."""

    def __init__(self, points: np.ndarray, depth: np.ndarray) -> None:
        n = tp.NUM_LANDMARKS
        self.source: list[np.ndarray] = [points[i] for i in range(n)]
        self.depth: list[float] = [float(d) for d in depth]
        self.derive: list[dict[int, float]] = [{i: 1.0} for i in range(n)]
        self.rigid: list[float] = [1.0] * n
        self.depth_from: list[dict[int, float]] = [{i: 1.0} for i in range(n)]  # landmarks its depth follows
        self.triangles: list[tuple[int, int, int]] = [tuple(t) for t in tp.tesselation().tolist()]
        self.border: list[int] = []  # vertices on the canvas border

    def add(
        self,
        source: np.ndarray,
        depth: float,
        derive: dict[int, float],
        rigid: float = 1.0,
        depth_from: dict[int, float] | None = None,
    ) -> int:
        """A vertex; its depth follows the landmarks ``depth_from`` (default: ``derive``) in :attr:`Mesh.turn_depth`."""
        self.source.append(np.asarray(source, np.float64))
        self.depth.append(float(depth))
        self.derive.append({k: v for k, v in derive.items() if v != 0.0})
        self.rigid.append(float(rigid))
        self.depth_from.append(dict(derive if depth_from is None else depth_from))
        return len(self.source) - 1

    def strip(self, a: list[int], pa: np.ndarray, b: list[int], pb: np.ndarray) -> None:
        """Triangles between two polylines ordered by the parameters ``pa``/``pb`` (both increasing)."""
        i = j = 0
        while i < len(a) - 1 or j < len(b) - 1:
            if j == len(b) - 1 or (i < len(a) - 1 and pa[i + 1] <= pb[j + 1]):
                tri = (a[i], a[i + 1], b[j])
                i += 1
            else:
                tri = (a[i], b[j + 1], b[j])
                j += 1
            if len(set(tri)) == 3:
                self.triangles.append(tri)


def arc_params(pts: np.ndarray) -> np.ndarray:
    """Normalised arc length (0..1) at each point of a polyline (N, 2)."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return s / max(s[-1], 1e-9)


def _chain_weights(chain: tuple[int, ...], params: np.ndarray, sigma: float) -> dict[int, float]:
    """Landmark weights of the point at arc parameter ``sigma`` along ``chain``."""
    i = int(np.clip(np.searchsorted(params, sigma, side="right") - 1, 0, len(chain) - 2))
    span = max(params[i + 1] - params[i], 1e-9)
    lam = float(np.clip((sigma - params[i]) / span, 0.0, 1.0))
    out = {chain[i]: 1.0 - lam}
    out[chain[i + 1]] = out.get(chain[i + 1], 0.0) + lam
    return out


def _combine(*parts: tuple[float, dict[int, float]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for w, d in parts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + w * v
    return out


def _evaluate(b: _Builder, weights: dict[int, float]) -> tuple[np.ndarray, float]:
    pos = sum(w * b.source[k] for k, w in weights.items())
    dep = sum(w * b.depth[k] for k, w in weights.items())
    return np.asarray(pos), float(dep)


def _face_frame(points: np.ndarray) -> FaceFrame:
    a, b = points[tp.RIGHT_IRIS[0]], points[tp.LEFT_IRIS[0]]
    left_eye, right_eye = (a, b) if a[0] <= b[0] else (b, a)
    u = right_eye - left_eye
    u = u / max(np.linalg.norm(u), 1e-9)
    v = np.array([-u[1], u[0]])
    mouth = points[list(tp.MOUTH_CORNERS)].mean(axis=0)
    if (mouth - (a + b) / 2) @ v < 0:
        v = -v
    return FaceFrame((a + b) / 2, u, v)


def _eye(b: _Builder, upper: tuple[int, ...], lower: tuple[int, ...], iris: tuple[int, ...], offset: float) -> Eye:
    pu, pl = np.array([b.source[i] for i in upper]), np.array([b.source[i] for i in lower])
    su, sl = arc_params(pu), arc_params(pl)
    sigmas = np.linspace(0, 1, EYE_COLUMNS + 2)[1:-1]
    rows: list[list[int]] = []
    interior = []
    for t in EYE_ROWS:
        row = [upper[0]]
        for sg in sigmas:
            w = _combine((1 - t, _chain_weights(lower, sl, sg)), (t, _chain_weights(upper, su, sg)))
            pos, dep = _evaluate(b, w)
            row.append(b.add(pos, dep + offset, w))
            interior.append(row[-1])
        row.append(upper[-1])
        rows.append(row)
    grid = np.concatenate([[0.0], sigmas, [1.0]])
    polylines = [(list(lower), sl), *((r, grid) for r in rows), (list(upper), su)]
    for (ra, pa), (rb, pb) in pairwise(polylines):
        b.strip(ra, pa, rb, pb)
    ctr = b.source[iris[0]]
    radius = float(np.mean([np.linalg.norm(b.source[i] - ctr) for i in iris[1:]]))
    contour = set(upper) | set(lower)
    rings = tp.rings_around(tuple(contour), 2)
    center = (pu.mean(axis=0) + pl.mean(axis=0)) / 2
    up_dir = pu.mean(axis=0) - pl.mean(axis=0)

    def above(idx: list[int]) -> list[int]:
        return [i for i in idx if (b.source[i] - center) @ up_dir > 0]

    def below(idx: list[int]) -> list[int]:
        return [i for i in idx if (b.source[i] - center) @ up_dir <= 0]

    # the lid shutter (synthesis.LidShutter): a strip on the upper lid's inner points, collapsed onto them until
    # an animal's blink slides the fur above the eye down over it (in front of everything around the eye)
    rows = [[b.add(b.source[i], b.depth[i] - 2 * offset, {i: 1.0}) for i in upper[1:-1]] for _ in range(2)]
    top, bottom = ([upper[0], *row, upper[-1]] for row in rows)
    b.strip(bottom, su, top, su)
    return Eye(
        upper,
        lower,
        np.asarray(ctr),
        radius,
        np.array(interior),
        (above(rings[0]), above(rings[1])),
        below(rings[0]),
        "",
        (np.array(rows[0]), np.array(rows[1])),
    )


def mouth_columns() -> np.ndarray:
    """Arc parameters (0..1, corner to corner) of the mouth interior's columns."""
    return np.linspace(0, 1, MOUTH_COLUMNS + 2)[1:-1]


def _mouth(b: _Builder, offset: float, split: np.ndarray | None) -> dict[str, np.ndarray]:
    upper, lower = tp.LIPS_INNER_UPPER, tp.LIPS_INNER_LOWER
    pu, pl = np.array([b.source[i] for i in upper]), np.array([b.source[i] for i in lower])
    su, sl = arc_params(pu), arc_params(pl)
    sigmas = mouth_columns()
    split = np.full(len(sigmas), 0.5) if split is None else np.clip(split, 0.0, 1.0)
    rows: dict[str, list[int]] = {}
    corners = [b.add(b.source[c], b.depth[c] + 2 * offset, {c: 1.0}) for c in (upper[0], upper[-1])]
    for name, t in (("lower_band", 0.0), *CAVITY_ROWS, ("upper_band", 1.0)):
        band = name.endswith("band")
        row = [upper[0]] if band else [corners[0]]
        for sg, f in zip(sigmas, split, strict=True):
            wl, wu = _chain_weights(lower, sl, sg), _chain_weights(upper, su, sg)
            mid, dep = _evaluate(b, _combine((f, wl), (1 - f, wu)))
            row.append(b.add(mid, dep + (offset if band else 2 * offset), _combine((1 - t, wl), (t, wu))))
        row.append(upper[-1] if band else corners[1])
        rows[name] = row
    grid = np.concatenate([[0.0], sigmas, [1.0]])
    cavity = [(rows[name], grid) for name, _ in CAVITY_ROWS[::-1]]  # bottom to top, like the strips below
    for (ra, pa), (rb, pb) in pairwise(cavity):
        b.strip(ra, pa, rb, pb)
    b.strip(list(lower), sl, rows["lower_band"], grid)
    b.strip(rows["upper_band"], grid, list(upper), su)
    out = {name: np.array(r[1:-1]) for name, r in rows.items()}
    out["cavity_corners"] = np.array(corners)
    return out


def smoothstep(e0: float, e1: float, x: np.ndarray | float) -> np.ndarray:
    """0 below ``e0``, 1 above ``e1``, smooth (3t² − 2t³) in between."""
    t = np.clip((np.asarray(x, np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _rings(b: _Builder, frame: FaceFrame, size: tuple[int, int], face_width: float) -> None:
    """Rings between the oval and the canvas border (the last one on the border, with the canvas corners)."""
    w, h = size
    oval = list(tp.FACE_OVAL)
    pts = np.array([b.source[i] for i in oval])
    center = pts.mean(axis=0)
    lo, hi = np.array([-0.5, -0.5]), np.array([w - 0.5, h - 0.5])

    def to_border(d: np.ndarray) -> float:
        ts = [((hi if d[k] > 0 else lo)[k] - center[k]) / d[k] for k in range(2) if abs(d[k]) > 1e-12]
        return min(ts)

    angle0 = math.atan2(*(pts[0] - center)[::-1])
    order = np.sign(np.cross(pts[0] - center, pts[1] - center)) or 1.0

    def param(p: np.ndarray) -> float:
        a = math.atan2(p[1] - center[1], p[0] - center[0])
        return ((a - angle0) * order) % (2 * math.pi)

    # the rings keep their oval point's depth: head motion then fades out toward the border (rigid)
    # instead of swinging the rings the other way, which stretched the side of the head
    max_depth = max(b.depth[i] for i in oval)
    levels: list[list[int]] = [oval]
    for k, frac in enumerate((*RING_FRACTIONS, 1.0)):
        row = []
        for j, i in enumerate(oval):
            d = pts[j] - center
            t = to_border(d)
            border = center + d * t
            pos = pts[j] + frac * (border - pts[j])
            down = float(smoothstep(0.2, 0.9, (d / max(np.linalg.norm(d), 1e-9)) @ frame.v))
            # where the face reaches the canvas border (a template past the image's edge), the head's motion
            # goes on out to the border, whose content then slides (Mesh.border): no edge row smeared into streaks
            reach = 1 - float(smoothstep(0.0, BORDER_REACH * face_width, (t - 1) * np.linalg.norm(d)))
            if k == 0:
                rigid, follow, dep = 0.85 + (0.25 - 0.85) * down, 0.5, b.depth[i]
            elif k == 1:
                # below the chin (neck, collar) this ring stays put: the body does not sway with the head
                rigid, follow, dep = max(0.4, 0.85 * reach) * (1 - down), 0.15 * (1 - down), b.depth[i]
            else:
                rigid, follow, dep = 0.85 * reach * (1 - down), 0.0, max_depth + face_width
            row.append(b.add(pos, dep, {i: follow}, rigid, {i: 1.0} if k < 2 else {}))
        levels.append(row)
    for ra, rb in pairwise(levels[:-1]):  # same counts: quads
        n = len(ra)
        for j in range(n):
            a0, a1, b0, b1 = ra[j], ra[(j + 1) % n], rb[j], rb[(j + 1) % n]
            b.triangles += [(a0, a1, b0), (a1, b1, b0)]
    # last ring to the border, with the canvas corners inserted by angle
    border = list(levels[-1])
    corners = [np.array(c) for c in ((lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1]))]
    for c in corners:
        border.append(b.add(c, max_depth + face_width, {}, 0.0, {}))
    b.border = border
    inner = levels[-2]
    pi = np.array([param(b.source[i]) for i in inner])
    pb = np.array([param(b.source[i]) for i in border])
    oi, ob = np.argsort(pi, kind="stable"), np.argsort(pb, kind="stable")
    ring_a = [inner[i] for i in oi] + [inner[oi[0]]]
    ring_b = [border[i] for i in ob] + [border[ob[0]]]
    b.strip(ring_a, np.append(pi[oi], 2 * math.pi), ring_b, np.append(pb[ob], 2 * math.pi))


def _edges(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(triangles, edge b - a, edge c - a, their 2-D cross product) of image-space triangles."""
    tri = np.asarray(triangles)
    p = np.asarray(points, np.float64)
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    e1, e2 = b - a, c - a
    return tri, e1, e2, e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def _slopes(z: np.ndarray, tri: np.ndarray, e1: np.ndarray, e2: np.ndarray, det: np.ndarray) -> np.ndarray:
    """Per triangle, the image-space gradient norm of ``z`` (depth px per image px; inf for degenerate triangles)."""
    za, zb, zc = z[tri[:, 0]], z[tri[:, 1]], z[tri[:, 2]]
    d1, d2 = zb - za, zc - za
    with np.errstate(divide="ignore", invalid="ignore"):
        gx = (d1 * e2[:, 1] - d2 * e1[:, 1]) / det
        gy = (d2 * e1[:, 0] - d1 * e2[:, 0]) / det
        return np.where(np.abs(det) > 1e-9, np.hypot(gx, gy), np.inf)


def limit_depth_slope(
    points: np.ndarray, depth: np.ndarray, triangles: np.ndarray, slope: float, reshape_steps: int = 200
) -> np.ndarray:
    """``depth`` with no triangle steeper than ``slope`` (depth px per image px).

    The face mesh's side triangles are seen edge-on: a small image triangle with a
    large depth step. Turning the head opens them up, and a sliver of texture
    (an ear, a glasses temple) is smeared across the revealed side. Capping the
    slope bounds that stretch at about cos θ + slope·sin θ for a turn of θ.

    First each steep triangle's depths are scaled about their mean and every
    vertex takes the average of what its steep triangles ask (``reshape_steps``
    rounds): the far vertex comes forward *and* the near one goes back, so the
    slope spreads over a wider band of the cheek and the head keeps most of its
    depth relief (a flatter head turns less: a tracker reads a smaller yaw).
    Then whatever is still too steep is met by only bringing far vertices forward.
    """
    z = np.asarray(depth, np.float64).copy()
    tri, e1, e2, det = _edges(points, triangles)
    for step in range(reshape_steps + 50):
        grad = _slopes(z, tri, e1, e2, det)
        steep = (grad > slope * 1.001) & np.isfinite(grad)
        if step >= reshape_steps:  # the guarantee: far vertices forward only
            steep = grad > slope * 1.001
        if not steep.any():
            break
        f = np.where(steep & np.isfinite(grad), slope / grad, 0.0)[:, None]
        zs = z[tri]
        mean = zs.mean(axis=1, keepdims=True)
        target = mean + f * (zs - mean)
        if step < reshape_steps:
            total, count = np.zeros_like(z), np.zeros_like(z)
            np.add.at(total, tri[steep].ravel(), target[steep].ravel())
            np.add.at(count, tri[steep].ravel(), 1.0)
            z = np.where(count > 0, total / np.maximum(count, 1.0), z)
        else:
            new = np.full_like(z, np.inf)
            np.minimum.at(new, tri[steep].ravel(), target[steep].ravel())
            z = np.minimum(z, new)
    return z


def limit_turn_slope(
    points: np.ndarray,
    depth: np.ndarray,
    triangles: np.ndarray,
    direction: np.ndarray,
    slope: float,
    steepest: float = DEPTH_SLOPE,
) -> np.ndarray:
    """``depth`` rising by at most ``slope`` depth px per image px along ``direction`` (2,).

    A head turn moves each point across the image by sin θ times its depth: where the
    depth rises steeply toward the side turning away, the cheek overtakes the face's
    edge and folds over it (the hair beyond then meets the skin in a hard seam). With
    this bound the side turning away is squashed to no less than 1 − tan θ · slope instead.
    Depth only grows (near vertices go back): the far edge never comes forward with the
    nose, so the turn keeps its parallax, and the rise spreads over the cheek. No
    triangle gets steeper than ``steepest`` in any direction (:func:`limit_depth_slope`),
    and a triangle without area gets one depth, so none opens into a smear.
    """
    z = np.asarray(depth, np.float64).copy()
    tri, e1, e2, det = _edges(points, triangles)
    ok = np.abs(det) > 1e-9
    safe = np.where(ok, det, 1.0)
    # the image-space depth gradient of each triangle = its three depths · these weights
    gx = np.stack([e1[:, 1] - e2[:, 1], e2[:, 1], -e1[:, 1]], axis=1) / safe[:, None]
    gy = np.stack([e2[:, 0] - e1[:, 0], -e2[:, 0], e1[:, 0]], axis=1) / safe[:, None]
    along = direction[0] * gx + direction[1] * gy
    for _ in range(1000):
        zs = z[tri]
        rise = (zs * along).sum(axis=1)
        norm = np.hypot((zs * gx).sum(axis=1), (zs * gy).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.minimum(np.where(rise > slope, slope / rise, 1.0), np.where(norm > steepest, steepest / norm, 1.0))
        f = np.where(ok, f, np.where(np.ptp(zs, axis=1) > 1e-6, 0.0, 1.0))
        steep = f < 0.999
        if not steep.any():
            break
        mean = zs[steep].mean(axis=1, keepdims=True)
        target = mean + f[steep, None] * (zs[steep] - mean)
        new = np.full_like(z, -np.inf)
        np.maximum.at(new, tri[steep].ravel(), target.ravel())
        z = np.maximum(z, new)
    return z


def turn_fields(points: np.ndarray, depth: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """(TURN_DIRECTIONS, 478) landmark depth shifts (≥ 0) that keep a turned head's far side from folding over.

    Row ``k`` is for the side at angle 2πk/TURN_DIRECTIONS in the face frame (0: +u, π/2: +v)
    turning away: along that direction the depth rises by at most (1 − TURN_SQUASH)/tan θ,
    θ the widest turn that way within ±TURN_YAW × ±TURN_PITCH, so that side is
    squashed to no less than TURN_SQUASH there instead of the cheek folding over the face's edge.
    Each field (:func:`limit_turn_slope`) is smoothed over the tesselation and bounded again,
    so the squash sets in gradually (no crease down the cheek where it starts).
    """
    ty, tp_ = math.tan(math.radians(TURN_YAW)), math.tan(math.radians(TURN_PITCH))
    tri = tp.tesselation()
    adjacency = np.eye(len(points))  # each landmark and its neighbours in the tesselation
    for i, j in ((0, 1), (1, 2), (2, 0)):
        adjacency[tri[:, i], tri[:, j]] = adjacency[tri[:, j], tri[:, i]] = 1.0
    degree = adjacency.sum(axis=1)
    out = []
    for k in range(TURN_DIRECTIONS):
        phi = 2 * math.pi * k / TURN_DIRECTIONS
        cu, cv = math.cos(phi), math.sin(phi)
        widest = min(ty / max(abs(cu), 1e-9), tp_ / max(abs(cv), 1e-9))  # tan of the widest turn that way
        direction = cu * frame.u + cv * frame.v
        bound = (1 - TURN_SQUASH) / widest
        shift = limit_turn_slope(points, depth, tri, direction, bound) - depth
        for _ in range(TURN_SMOOTHING):
            shift = (adjacency @ shift) / degree
        out.append(limit_turn_slope(points, depth + shift, tri, direction, bound) - depth)
    return np.array(out)


def build_mesh(
    points: np.ndarray,
    depth: np.ndarray,
    size: tuple[int, int],
    mouth_split: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    depth_slope: float = DEPTH_SLOPE,
    turn_fold_free: bool = True,
) -> Mesh:
    """The mesh of a face with MediaPipe 478 landmarks ``points`` (canvas px) and ``depth`` in a canvas of ``size``.

    Args:
        points: (478, 2) landmark positions in canvas pixels.
        depth: (478,) landmark depth in pixels (smaller = nearer the camera).
        size: canvas (width, height).
        mouth_split: per mouth column (:func:`mouth_columns`), where the source's mouth interior
            parts when the jaw opens, as a fraction from the upper (0) to the lower (1) inner lip;
            default 0.5.
        valid: (4, 2) corners (in order) of the quad where the canvas shows the image; default the canvas.
        depth_slope: the steepest face-surface triangle (:func:`limit_depth_slope`; ``inf``: the depth as given).
        turn_fold_free: give the mesh :attr:`Mesh.turn_depth` (:func:`turn_fields`), so head turns squash
            the side turning away instead of folding it over; ``False``: turns move every point by its depth.
    """
    points = np.asarray(points, np.float64)
    depth = np.asarray(depth, np.float64)
    if points.shape != (tp.NUM_LANDMARKS, 2) or depth.shape != (tp.NUM_LANDMARKS,):
        raise ValueError(
            "build_mesh: expected (478, 2) points and (478,) depth (MediaPipe scheme), "
            f"got {points.shape}, {depth.shape}"
        )
    frame = _face_frame(points)
    face_height = float(np.linalg.norm(points[tp.FOREHEAD] - points[tp.CHIN]))
    face_width = float(np.linalg.norm(points[tp.CHEEK_EDGES[0]] - points[tp.CHEEK_EDGES[1]]))
    mouth_width = float(np.linalg.norm(points[tp.MOUTH_CORNERS[0]] - points[tp.MOUTH_CORNERS[1]]))
    if min(face_height, face_width, mouth_width) < 2:
        raise ValueError(f"build_mesh: degenerate face (height {face_height:.1f}, width {face_width:.1f} px)")
    if math.isfinite(depth_slope):
        depth = limit_depth_slope(points, depth, tp.tesselation(), depth_slope)
    b = _Builder(points, depth)
    offset = 0.02 * face_width
    eyes = [
        _eye(b, tp.RIGHT_EYE_UPPER, tp.RIGHT_EYE_LOWER, tp.RIGHT_IRIS, offset),
        _eye(b, tp.LEFT_EYE_UPPER, tp.LEFT_EYE_LOWER, tp.LEFT_IRIS, offset),
    ]
    # the avatar's left eye is the one further along u (image right in an unmirrored portrait)
    eyes.sort(key=lambda e: -(frame.to_face(e.iris_center[None])[0, 0]))
    eyes[0].side, eyes[1].side = "left", "right"
    rows = _mouth(b, offset, mouth_split)
    _rings(b, frame, size, face_width)
    n = len(b.source)
    derive = np.zeros((n, tp.NUM_LANDMARKS), np.float32)
    depth_from = np.zeros((n, tp.NUM_LANDMARKS))
    for r, (d, f) in enumerate(zip(b.derive, b.depth_from, strict=True)):
        for k, v in d.items():
            derive[r, k] = v
        for k, v in f.items():
            depth_from[r, k] = v
    turn = depth_from @ turn_fields(points, depth, frame).T if turn_fold_free else None
    return Mesh(
        source=np.array(b.source, np.float32),
        depth=np.array(b.depth, np.float32),
        triangles=np.array(b.triangles, np.int32),
        derive=derive,
        rigid=np.array(b.rigid, np.float32),
        frame=frame,
        face_height=face_height,
        face_width=face_width,
        mouth_width=mouth_width,
        eyes=(eyes[0], eyes[1]),
        mouth_rows=rows,
        turn_depth=None if turn is None else np.ascontiguousarray(turn.T, np.float32),
        border=np.array(b.border),
        size=size,
        valid=_canvas_quad(size) if valid is None else np.asarray(valid, np.float64),
    )


def _canvas_quad(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])


def room_along(points: np.ndarray, direction: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Distance from each of ``points`` (N, 2) along ``direction`` (2,) to the edge of the convex ``quad`` (M, 2)."""
    p = np.asarray(points, np.float64)
    a, b = quad, np.roll(quad, -1, axis=0)
    e = b - a  # (M, 2)
    den = direction[0] * e[:, 1] - direction[1] * e[:, 0]  # cross(direction, e)
    rel = a[None] - p[:, None]  # (N, M, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rel[..., 0] * e[:, 1] - rel[..., 1] * e[:, 0]) / den
        s = (rel[..., 0] * direction[1] - rel[..., 1] * direction[0]) / den
    hit = (np.abs(den) > 1e-12) & (t > 0) & (s >= -1e-9) & (s <= 1 + 1e-9)
    return np.where(hit, t, np.inf).min(axis=1)
