"""FaceParams → deformed mesh vertices.

Expressions are linear: each field has a displacement basis (V, 3) built once
from the face's own geometry (lid chains, lip corners, brows, jaw), so a
frame's vertices are ``source + Σ coefficient·basis``. Gaze bases are scaled
by how open that eye is. Then the head moves rigidly — rotation about a neck
pivot behind the face (using the landmarks' depth), translation and scale —
blended per vertex by :attr:`Mesh.rigid`.

Amplitudes are fractions of the face's own measures (face height H, face
width, mouth width, eye size), so the same parameters look alike on any
portrait size.
"""

from __future__ import annotations

import math

import numpy as np

from pyavatar.face.params import FaceParams
from pyavatar.render.classical import topology as tp
from pyavatar.render.classical.mesh import Eye, Mesh, arc_params, room_along, smoothstep

JAW_DROP = 0.17  # lower-lip travel at jaw_open = 1, in face heights
LIP_LIFT = 0.03  # upper-lip lift at jaw_open = 1
JAW_BACK = 0.06  # chin moving back (depth) at jaw_open = 1
JAW_KNEE = 0.5  # jaw_open above this opens less and less: jaw_open = 1 (where --lip-scale 3 sits) gives JAW_MAX
JAW_MAX = 0.85
JAW_ROOM_LIFT = 0.45  # share of the upper lip–nose gap the upper lip may rise when the image leaves no room below
GAZE_SHIFT = 0.75  # iris travel at 45° as a fraction of the room between iris and eye corner
GAZE_LIFT = 0.3  # vertical iris travel at 45° as a fraction of the eye's half height
BROW_RAISE = 0.075
BROW_LOWER = 0.04
LID_CLOSE_AT = 0.9  # the closed lid line lies this far from the upper toward the lower lid
LID_RING_FOLLOW = 0.8  # how far the first ring of lid skin above the lashes follows them down
EYE_WIDEN = 0.3

# Coefficients of the basis, in order. Gaze terms are per eye and multiplied by the eye's openness.
TERMS = (
    "jaw_open",
    "mouth_wide",
    "mouth_round",
    "smile_left",
    "smile_right",
    "mouth_frown",
    "brow_up_left",
    "brow_up_right",
    "brow_down",
    "blink_left",
    "blink_right",
    "eye_wide",
    "gaze_yaw_left",
    "gaze_pitch_left",
    "gaze_yaw_right",
    "gaze_pitch_right",
)


def _falloff(d: np.ndarray, radius: float) -> np.ndarray:
    x = np.clip(1 - (np.asarray(d) / radius) ** 2, 0, 1)
    return x * x


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of (N, 2) points against a closed (M, 2) polygon."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < xi)).sum(axis=1) % 2) == 1


def jaw_curve(jaw_open: np.ndarray) -> np.ndarray:
    """The jaw basis coefficient of ``jaw_open``: linear up to :data:`JAW_KNEE`, then easing to :data:`JAW_MAX` at 1.

    A gain on the mouth (``--lip-scale 3``) holds jaw_open near 1 through speech; the
    knee keeps that a wide-open mouth rather than a cavity with a stretched chin.
    """
    j = np.asarray(jaw_open, np.float32)
    a = (1 - JAW_MAX) / (1 - JAW_KNEE) ** 2  # f(1) = JAW_MAX, f'(KNEE) = 1
    over = np.maximum(j - JAW_KNEE, 0)
    return (j - a * over * over).astype(np.float32)


def _interp_chain(pts: np.ndarray, params: np.ndarray, s: float) -> np.ndarray:
    return np.array([np.interp(s, params, pts[:, 0]), np.interp(s, params, pts[:, 1])])


class Rig:
    """Expression bases, head pivot and per-frame vertex positions of one :class:`Mesh`."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        frame = mesh.frame
        uv = frame.to_face(mesh.source[: tp.NUM_LANDMARKS])
        self._uv = uv
        bases = {name: np.zeros((tp.NUM_LANDMARKS, 3)) for name in TERMS}
        self._jaw(bases["jaw_open"])
        self._mouth(bases)
        self._brows(bases)
        self._eyes(bases)
        derive = mesh.derive.astype(np.float64)
        basis = np.zeros((len(TERMS), mesh.num_vertices, 3))
        for k, name in enumerate(TERMS):
            d = derive @ bases[name]  # (V, 3) in face frame
            basis[k, :, :2] = frame.vectors_to_canvas(d[:, :2])
            basis[k, :, 2] = d[:, 2]
        self._gaze(basis)
        self.basis = basis.reshape(len(TERMS), -1).astype(np.float32)  # (terms, V·3)
        self.rest = np.concatenate([mesh.source, mesh.depth[:, None]], axis=1).astype(np.float32)
        # neck pivot: behind the face at the depth of the cheek edges, a little above the chin
        chin_v = uv[tp.CHIN, 1]
        pivot_uv = np.array([uv[list(tp.CHEEK_EDGES), 0].mean(), chin_v - 0.15 * mesh.face_height])
        pivot_z = float(mesh.depth[list(tp.CHEEK_EDGES)].mean() + 0.1 * mesh.face_width)
        self.pivot = np.array([*(frame.origin + frame.vectors_to_canvas(pivot_uv)), pivot_z])
        self.rigid = mesh.rigid[:, None].astype(np.float32)
        self._turn = mesh.turn_depth

    # ------------------------------------------------------------------------------------------ bases

    def _jaw(self, out: np.ndarray) -> None:
        m, uv = self.mesh, self._uv
        h = m.face_height
        v = uv[:, 1]
        corner_v = uv[list(tp.MOUTH_CORNERS), 1].mean()
        lip_bottom = uv[17, 1]
        mid_u = uv[list(tp.MOUTH_CORNERS), 0].mean()
        ramp = smoothstep(corner_v - 0.02 * h, lip_bottom + 0.02 * h, v)
        lateral = 1 - 0.55 * smoothstep(0.35, 1.0, np.abs(uv[:, 0] - mid_u) / (m.face_width / 2))
        w = ramp * lateral
        upper_poly = uv[list(tp.LIPS_OUTER_UPPER) + list(tp.LIPS_INNER_UPPER)[::-1]]
        lower_poly = uv[list(tp.LIPS_OUTER_LOWER) + list(tp.LIPS_INNER_LOWER)[::-1]]
        upper_idx = list(tp.LIPS_OUTER_UPPER) + list(tp.LIPS_INNER_UPPER)
        lower_idx = list(tp.LIPS_OUTER_LOWER) + list(tp.LIPS_INNER_LOWER)
        # a contour point belongs to its own lip even where a tightly closed mouth's contours cross
        upper, lower = _inside(uv, upper_poly), _inside(uv, lower_poly)
        upper[lower_idx], lower[upper_idx] = False, False
        upper[upper_idx], lower[lower_idx] = True, True
        w[upper] = 0.0
        # the lower lip hangs from the corners: full drop in the middle, less toward the sides
        half = m.mouth_width / 2
        across = np.clip(np.abs(uv[:, 0] - mid_u) / half, 0, 1)
        w[lower] = (0.3 + 0.7 * np.sqrt(1 - across**2))[lower]
        w[list(tp.MOUTH_CORNERS) + list(tp.INNER_CORNERS)] = 0.3
        w[tp.NUM_MESH :] = 0.0
        # the upper lip lifts a little as the mouth opens wide, the skin up to the nose follows partly
        nose_v = uv[tp.NOSE_BOTTOM, 1]
        lip_top = uv[list(tp.LIPS_OUTER_UPPER), 1].min()
        lift = np.sqrt(1 - across**2) * np.where(upper, 1.0, smoothstep(nose_v, lip_top, v) * (v < corner_v))
        lift[list(tp.MOUTH_CORNERS) + list(tp.INNER_CORNERS)] = 0.0
        lift[tp.NUM_MESH :] = 0.0
        drop, lift_px = self._jaw_room(w, lift)
        out[:, 1] = drop * w - lift_px * lift
        out[:, 2] = JAW_BACK * h * w
        self._lips = upper | lower

    def _jaw_room(self, drop_weight: np.ndarray, lift_weight: np.ndarray) -> tuple[float, float]:
        """Lower-lip drop and upper-lip lift (px at a jaw coefficient of 1) that keep the open mouth in the image.

        Where the image ends just below the mouth (an animal's face cut by the frame), the
        jaw drops only as far as keeps the lower lip inside it, and up to
        :data:`JAW_ROOM_LIFT` of the room between the upper lip and the nose opens upward instead.
        """
        m = self.mesh
        h = m.face_height
        drop, lift = JAW_DROP * h, LIP_LIFT * h
        if m.valid is None:
            return drop, lift
        down = m.frame.v
        inner = np.array(tp.LIPS_INNER_LOWER[1:-1])
        outer = np.array(tp.LIPS_OUTER_LOWER[1:-1])
        lip = float(np.median(np.linalg.norm(m.source[outer] - m.source[inner], axis=1)))
        room = room_along(m.source[inner], down, m.valid) / np.maximum(drop_weight[inner], 1e-6)
        allowed = max(float(room.min()) - 0.5 * lip, 0.0) / JAW_MAX
        if allowed >= drop:
            return drop, lift
        nose = float(self._uv[tp.NOSE_BOTTOM, 1])
        lip_top = float(self._uv[list(tp.LIPS_OUTER_UPPER), 1].min())
        up_room = JAW_ROOM_LIFT * max(lip_top - nose, 0.0) / JAW_MAX
        return allowed, max(lift, min(lift + drop - allowed, up_room))

    def _mouth(self, bases: dict[str, np.ndarray]) -> None:
        m, uv = self.mesh, self._uv
        h, mw = m.face_height, m.mouth_width
        nose_v = uv[tp.NOSE_BOTTOM, 1]
        below_nose = smoothstep(nose_v - 0.02 * h, nose_v + 0.06 * h, uv[:, 1])
        mid_u = uv[list(tp.MOUTH_CORNERS), 0].mean()
        for c in tp.MOUTH_CORNERS:
            outward = 1.0 if uv[c, 0] > mid_u else -1.0
            w = _falloff(np.linalg.norm(uv - uv[c], axis=1), 0.7 * mw) * below_nose
            w[tp.NUM_MESH :] = 0.0
            side = "left" if outward > 0 else "right"  # avatar's left = image right (+u)
            bases["mouth_wide"][:, 0] += w * outward * 0.13 * mw
            bases["mouth_round"][:, 0] -= w * outward * 0.17 * mw
            bases[f"smile_{side}"][:, 0] += w * outward * 0.05 * mw
            bases[f"smile_{side}"][:, 1] -= w * 0.075 * h
            bases["mouth_frown"][:, 0] -= w * outward * 0.02 * mw
            bases["mouth_frown"][:, 1] += w * 0.05 * h
        bases["mouth_round"][self._lips, 2] -= 0.04 * h
        for eye in self.mesh.eyes:  # a smile lifts the cheek under the eye a little
            lower = list(eye.lower[1:-1])
            bases[f"smile_{eye.side}"][lower, 1] -= 0.012 * h
            bases[f"smile_{eye.side}"][eye.lower_ring, 1] -= 0.009 * h

    def _brows(self, bases: dict[str, np.ndarray]) -> None:
        m, uv = self.mesh, self._uv
        h = m.face_height
        protect = np.ones(tp.NUM_LANDMARKS)
        protect[tp.NUM_MESH :] = 0.0
        for eye in m.eyes:
            protect[list(eye.upper) + list(eye.lower) + eye.lower_ring] = 0.0
            protect[eye.lid_rings[0]] = 0.3
            protect[eye.lid_rings[1]] = 0.6
        mid_u = uv[[eye.upper[0] for eye in m.eyes], 0].mean()
        for eye, brow in self._brow_sides():
            eye_v = uv[list(eye.upper) + list(eye.lower), 1].mean()
            above = 1 - smoothstep(eye_v - 0.02 * h, eye_v + 0.05 * h, uv[:, 1])
            d = np.min(np.linalg.norm(uv[:, None, :] - uv[None, list(brow), :], axis=2), axis=1)
            w = _falloff(d, 0.3 * h) * protect * above
            bases[f"brow_up_{eye.side}"][:, 1] -= BROW_RAISE * h * w
            bases["brow_down"][:, 1] += BROW_LOWER * h * w
            toward_mid = np.sign(mid_u - uv[:, 0])
            medial = 1 - smoothstep(0.0, 0.6 * m.face_width / 2, np.abs(uv[:, 0] - mid_u))
            bases["brow_down"][:, 0] += 0.03 * m.face_width * w * medial * toward_mid

    def _brow_sides(self) -> list[tuple[Eye, tuple[int, ...]]]:
        uv = self._uv
        out = []
        for eye in self.mesh.eyes:
            center = uv[list(eye.upper)].mean(axis=0)
            brow = min((tp.RIGHT_BROW, tp.LEFT_BROW), key=lambda b: np.linalg.norm(uv[list(b)].mean(0) - center))
            out.append((eye, brow))
        return out

    def _eyes(self, bases: dict[str, np.ndarray]) -> None:
        uv = self._uv
        for eye in self.mesh.eyes:
            up, lo = uv[list(eye.upper)], uv[list(eye.lower)]
            su, sl = arc_params(up), arc_params(lo)
            blink = bases[f"blink_{eye.side}"]
            wide = bases["eye_wide"]
            lids = {}
            for i in range(1, len(eye.upper) - 1):
                other = _interp_chain(lo, sl, su[i])
                blink[eye.upper[i], :2] = LID_CLOSE_AT * (other - up[i])
                wide[eye.upper[i], :2] = EYE_WIDEN * (up[i] - other)
                lids[eye.upper[i]] = up[i]
            for j in range(1, len(eye.lower) - 1):
                other = _interp_chain(up, su, sl[j])
                blink[eye.lower[j], :2] = (1 - LID_CLOSE_AT) * (other - lo[j])
            keys = list(lids)
            ref = np.array([lids[k] for k in keys])
            for ring, share in zip(eye.lid_rings, (LID_RING_FOLLOW, 0.25), strict=True):
                for r in ring:
                    nearest = keys[int(np.argmin(np.linalg.norm(ref - uv[r], axis=1)))]
                    blink[r] = share * blink[nearest]
                    wide[r] = share * 0.7 * wide[nearest]
            lows = list(eye.lower[1:-1])
            for r in eye.lower_ring:
                nearest = lows[int(np.argmin(np.linalg.norm(uv[lows] - uv[r], axis=1)))]
                blink[r] = 0.5 * blink[nearest]

    def _gaze(self, basis: np.ndarray) -> None:
        m = self.mesh
        frame = m.frame
        for eye in m.eyes:
            corners = m.source[[eye.upper[0], eye.upper[-1]]].astype(np.float64)
            half_w = float(np.linalg.norm(corners[1] - corners[0])) / 2
            up = m.source[list(eye.upper[1:-1])].astype(np.float64)
            lo = m.source[list(eye.lower[1:-1])].astype(np.float64)
            half_h = float(np.median(np.linalg.norm(up - lo, axis=1))) / 2
            r = min(eye.iris_radius, 0.8 * half_w)
            room = max(half_w - r, 0.15 * half_w)
            pts = m.source[eye.interior].astype(np.float64)
            d = np.linalg.norm(pts - eye.iris_center, axis=1)
            # the iris is a rigid disk: it moves whole, and only the white between it and the corners stretches
            # (fading out at the corners); a shift fading inside the iris smeared irises with little white around them
            w = 1 - smoothstep(r, r + room, d)
            yaw = frame.vectors_to_canvas(np.array([GAZE_SHIFT * room / 45.0, 0.0]))
            pitch = frame.vectors_to_canvas(np.array([0.0, GAZE_LIFT * half_h / 45.0]))
            basis[TERMS.index(f"gaze_yaw_{eye.side}"), eye.interior, :2] = w[:, None] * yaw
            basis[TERMS.index(f"gaze_pitch_{eye.side}"), eye.interior, :2] = w[:, None] * pitch
            # the upper lid follows the eye up and down a little
            lid = list(eye.upper[1:-1])
            basis[TERMS.index(f"gaze_pitch_{eye.side}"), lid, :2] += 0.5 * pitch

    def detach_upper_lids(self) -> dict[str, np.ndarray]:
        """Stop the blink moving the upper lids and the skin above them; return what it moved (side → (V, 2)).

        For :class:`~pyavatar.render.classical.synthesis.LidShutter`, which closes an animal's eye instead.
        """
        basis = self.basis.reshape(len(TERMS), -1, 3)  # a view: edits reach self.basis
        out = {}
        for eye in self.mesh.eyes:
            k = TERMS.index(f"blink_{eye.side}")
            out[eye.side] = basis[k, :, :2].copy()
            rows = [*eye.upper[1:-1], *(v for ring in eye.lid_rings for v in ring), *eye.shutter[0], *eye.shutter[1]]
            basis[k, rows] = 0.0
        return out

    # ------------------------------------------------------------------------------------ per frame

    @staticmethod
    def coefficients(params: FaceParams) -> np.ndarray:
        """(T, len(TERMS)) basis coefficients of every frame."""
        v = {n: params[n].astype(np.float32) for n in ("blink_left", "blink_right")}
        cols = []
        for name in TERMS:
            if name.startswith("gaze_"):
                _, axis, side = name.split("_")
                cols.append(params[f"gaze_{axis}"] * (1 - v[f"blink_{side}"]))
            elif name == "jaw_open":
                cols.append(jaw_curve(params.jaw_open))
            else:
                cols.append(params[name])
        return np.stack(cols, axis=1).astype(np.float32)

    def head_transform(self, params: FaceParams, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(3, 3) canvas-space linear part (rotation × scale) and (3,) offset of the rigid head motion."""
        f = self.mesh.frame
        yaw, pitch, roll = (math.radians(float(params[k][frame])) for k in ("head_yaw", "head_pitch", "head_roll"))
        cy, sy, cp, sp, cr, sr = (
            math.cos(yaw),
            math.sin(yaw),
            math.cos(pitch),
            math.sin(pitch),
            math.cos(roll),
            math.sin(roll),
        )
        # face frame (u right, v down, depth away): yaw brings the nose toward +u, pitch toward +v,
        # roll lowers the avatar's right side (−u)
        ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        rz = np.array([[cr, sr, 0], [-sr, cr, 0], [0, 0, 1]])
        rot = ry @ rx @ rz
        q = np.eye(3)
        q[:2, 0], q[:2, 1] = f.u, f.v
        scale = 1.0 + float(params.head_z[frame])
        lin = scale * (q @ rot @ q.T)
        h = self.mesh.face_height
        shift = np.array([*f.vectors_to_canvas(np.array([params.head_x[frame] * h, -params.head_y[frame] * h])), 0.0])
        offset = self.pivot + shift - lin @ self.pivot
        return lin.astype(np.float32), offset.astype(np.float32)

    def _turn_shift(self, shift: np.ndarray) -> np.ndarray:
        """(V,) depth shift for a head motion that moves points by ``shift`` (2,) per depth px, relative to the image.

        (``shift`` = A⁻¹c for a head motion x ↦ A x + c z + offset: a triangle folds over where
        its depth falls by 1/|shift| per image px along ``shift``.) The side turning away lies
        along −``shift`` in the face frame; its field is interpolated between the two nearest of
        :attr:`Mesh.turn_depth`'s directions.
        """
        if self._turn is None or not shift.any():
            return np.zeros(self.mesh.num_vertices, np.float32)
        f = self.mesh.frame
        n = len(self._turn)
        k = (math.atan2(-float(shift @ f.v), -float(shift @ f.u)) / (2 * math.pi) * n) % n
        k0 = int(k) % n
        t = np.float32(k - int(k))
        return (1 - t) * self._turn[k0] + t * self._turn[(k0 + 1) % n]

    def positions(
        self, params: FaceParams, coefficients: np.ndarray, frame: int, border_slide: np.ndarray | None = None
    ) -> np.ndarray:
        """(V, 3) float32 vertex positions (canvas x, y and depth) of one frame.

        :attr:`Mesh.border` stays on the canvas border; what the head's motion would have moved
        those vertices by is written to ``border_slide`` (len(border), 2) when given: their
        source slides by its opposite, so the image there moves with the head instead of stretching.
        """
        local = self.rest + (coefficients[frame] @ self.basis).reshape(-1, 3)
        lin, offset = self.head_transform(params, frame)
        moved = local @ lin.T + offset
        # the side turning away moves as if its cheek were flatter (Mesh.turn_depth): squashed, never folded
        flat, along_depth = lin[:2, :2], lin[:2, 2]
        if abs(float(np.linalg.det(flat))) > 1e-6:
            moved[:, :2] += np.outer(self._turn_shift(np.linalg.solve(flat, along_depth)), along_depth)
        out = np.ascontiguousarray(local + self.rigid * (moved - local), dtype=np.float32)
        border = self.mesh.border
        if border_slide is not None:
            border_slide[:] = out[border, :2] - self.rest[border, :2]
        out[border, :2] = self.rest[border, :2]
        return out
