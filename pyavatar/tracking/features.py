"""Expression measures of a mesh with the head motion removed, relative to the neutral face.

All measures are taken in the neutral face frame (u across the eyes toward
the image right, v down the face, depth away from the camera), in units of
the neutral face height, so they do not depend on the head pose, the face's
size in the image or the camera's distance. Sides are by image position:
the image-right eye is the avatar's left (an unmirrored camera).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pyavatar.tracking import mesh as m
from pyavatar.tracking.pose import Similarity, face_axes


@dataclass(frozen=True)
class Gains:
    """Movement (in neutral face heights or ratios) that counts as a full (1.0) expression or 45° of gaze.

    The defaults match the amplitudes of pyavatar's classical renderer, which
    were chosen to look like real faces; tune them per user with the neutral
    calibration and these values.
    """

    jaw: float = 0.20  # growth of the outer-lip height (upper-lip top to lower-lip bottom)
    blink_closed: float = 0.7  # fraction of the neutral lid gap lost when the eye is fully closed
    blink_dead: float = 0.1  # fraction lost that still reads as open (landmark jitter, squints)
    eye_wide: float = 0.3  # lid-gap growth ratio
    brow_up: float = 0.075
    brow_down: float = 0.04
    mouth_wide: float = 0.26  # mouth-width growth, in neutral mouth widths
    mouth_round: float = 0.34  # mouth-width shrink, in neutral mouth widths
    smile: float = 0.075  # corner lift
    frown: float = 0.05  # corner drop
    corner_jaw_share: float = 0.3  # how much of the lower lip's drop the corners follow
    # iris travel at 45° as a fraction of the room between iris and eye corner (MediaPipe's iris centre moves
    # about two thirds as far as the iris drawn by the classical renderer, whose own travel is 0.75)
    gaze_shift: float = 0.5
    # iris travel at 45° read from the pixels (:mod:`pyavatar.tracking.iris`): the classical renderer's 0.75
    gaze_shift_image: float = 0.75
    gaze_lift: float = 0.3  # vertical iris travel at 45°, fraction of the eye's half height
    press: float = 0.5  # lip-thickness loss ratio for a full press
    funnel: float = 0.5  # inner-aperture height/width ratio for a full funnel
    cheek: float = 0.012  # cheek lift under the eye


@dataclass
class Geometry:
    """Neutral measures every frame is compared with (from :func:`neutral_geometry`)."""

    points: np.ndarray  # (478, 3) neutral mesh
    axes: np.ndarray  # (3, 3) face frame columns u, v, depth
    origin: np.ndarray  # (3,)
    height: float  # forehead → chin, px
    eyes: tuple[dict[str, object], dict[str, object]]  # avatar's left eye first
    brows: tuple[tuple[int, ...], tuple[int, ...]]  # avatar's left brow first
    cheeks: tuple[int, int]  # avatar's left first
    corners: tuple[int, int]  # mouth corners, avatar's left first
    mouth_width: float
    base: dict[str, np.ndarray]  # neutral values of the raw measures


def to_face(g: Geometry, points: np.ndarray) -> np.ndarray:
    """(N, 3) points → face-frame coordinates (u, v, depth) in px."""
    return (points - g.origin) @ g.axes


def _eye_measures(uv: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...], iris: tuple[int, ...]) -> np.ndarray:
    """(lid gap, half width, iris radius) of one eye in face coordinates."""
    gap = float(np.mean(uv[list(lower[2:-2]), 1] - uv[list(upper[2:-2]), 1]))
    half_w = float(np.linalg.norm(uv[upper[-1], :2] - uv[upper[0], :2])) / 2
    radius = float(np.mean(np.linalg.norm(uv[list(iris[1:]), :2] - uv[iris[0], :2], axis=1)))
    return np.array([gap, half_w, radius])


def _iris_shift(g: Geometry, eye: dict[str, tuple[int, ...]], image: np.ndarray, pose: Similarity) -> np.ndarray:
    """(du, dv) face-frame px the iris moved from where the head pose alone would put it.

    The neutral iris is placed in the plane of its lid opening (MediaPipe's iris
    depth is unreliable); the observed 2-D iris is compared with that point
    moved by the head pose, so head turns do not read as gaze.
    """
    ring = list(eye["upper"]) + list(eye["lower"])
    iris = g.points[eye["iris"][0]].copy()
    iris[2] = g.points[ring, 2].mean()
    d = (image[eye["iris"][0], :2] - pose.project(iris[None])[0]) / pose.scale
    axes = (pose.rotation @ g.axes[:, :2])[:2]  # the face's u and v axes as seen in the image
    return np.array([d @ axes[:, k] / max(float(axes[:, k] @ axes[:, k]), 1e-6) for k in range(2)])


def _toward_u(g: Geometry, eye: dict[str, tuple[int, ...]]) -> float:
    """+1 when the eye's last upper-lid point lies toward +u of its first, else -1."""
    return float(np.sign((g.points[eye["upper"][-1]] - g.points[eye["upper"][0]])[:2] @ g.axes[:2, 0]) or 1.0)


def _iris_in_eye(g: Geometry, eye: dict[str, tuple[int, ...]], image: np.ndarray) -> float:
    """Where the iris sits between the eye's corners in the image (0 = midway), in eye widths toward +u.

    Measured against the corners of the same eye in the same frame, it needs no
    head pose (no fit error at the eye) and no iris depth; the eye's own width
    in the image normalises it, so a head turn that foreshortens the eye does
    not change it.
    """
    a, b = image[eye["upper"][0], :2], image[eye["upper"][-1], :2]
    axis = (b - a) * _toward_u(g, eye)
    width2 = max(float(axis @ axis), 1e-6)
    return float((image[eye["iris"][0], :2] - (a + b) / 2) @ axis / width2)


def raw_measures(g: Geometry, aligned: np.ndarray) -> dict[str, np.ndarray]:
    """The raw measures of a mesh with the head motion removed, before the neutral is subtracted."""
    uv = to_face(g, aligned)
    out: dict[str, np.ndarray] = {}
    for k, eye in enumerate(g.eyes):
        out[f"eye{k}"] = _eye_measures(uv, eye["upper"], eye["lower"], eye["iris"])  # type: ignore[arg-type]
        out[f"brow{k}"] = np.array([uv[list(g.brows[k]), 1].mean()])
        out[f"cheek{k}"] = np.array([uv[g.cheeks[k], 1]])
        out[f"corner{k}"] = uv[g.corners[k], :2].copy()
    inner_up, inner_lo = uv[list(m.INNER_UPPER), 1].mean(), uv[list(m.INNER_LOWER), 1].mean()
    out["lips"] = np.array(
        [
            uv[m.OUTER_LOWER_MID, 1] - uv[m.OUTER_UPPER_MID, 1],  # outer lip height
            uv[m.INNER_LOWER_MID, 1],  # lower lip height
            (uv[m.INNER_UPPER_MID, 1] - uv[m.OUTER_UPPER_MID, 1])
            + (uv[m.OUTER_LOWER_MID, 1] - uv[m.INNER_LOWER_MID, 1]),
            float(np.linalg.norm(uv[78, :2] - uv[308, :2])),  # inner width
            inner_lo - inner_up,
        ]
    )
    return out


def neutral_geometry(points: np.ndarray) -> Geometry:
    """Neutral frame, face height, per-side landmark groups and neutral measures of a (478, 3) mesh."""
    mouth = points[list(m.MOUTH_CORNERS)].mean(axis=0)
    axes = face_axes(points, m.IRIS_A[0], m.IRIS_B[0], mouth)
    origin = (points[m.IRIS_A[0]] + points[m.IRIS_B[0]]) / 2
    uv = (points - origin) @ axes
    a_is_left = uv[m.IRIS_A[0], 0] > uv[m.IRIS_B[0], 0]  # avatar's left = image right = +u

    def order(a: object, b: object) -> tuple:
        return (a, b) if a_is_left else (b, a)

    eye_a = {"upper": m.EYE_A_UPPER, "lower": m.EYE_A_LOWER, "iris": m.IRIS_A}
    eye_b = {"upper": m.EYE_B_UPPER, "lower": m.EYE_B_LOWER, "iris": m.IRIS_B}
    corner_left = m.MOUTH_CORNERS[int(np.argmax(uv[list(m.MOUTH_CORNERS), 0]))]
    corner_right = m.MOUTH_CORNERS[1 - m.MOUTH_CORNERS.index(corner_left)]
    g = Geometry(
        points=points.copy(),
        axes=axes,
        origin=origin,
        height=float(np.linalg.norm(uv[m.CHIN, :2] - uv[m.FOREHEAD, :2])),
        eyes=order(eye_a, eye_b),
        brows=order(m.BROW_A, m.BROW_B),
        cheeks=order(*m.CHEEKS),
        corners=(corner_left, corner_right),
        mouth_width=float(np.linalg.norm(uv[m.MOUTH_CORNERS[0], :2] - uv[m.MOUTH_CORNERS[1], :2])),
        base={},
    )
    g.base = raw_measures(g, points)
    still = Similarity(np.eye(3), 1.0, np.zeros(3), np.zeros(3), 0.0)
    for k, eye in enumerate(g.eyes):
        g.base[f"iris{k}"] = _iris_shift(g, eye, points, still)  # type: ignore[arg-type]
        g.base[f"iris_in_eye{k}"] = np.array([_iris_in_eye(g, eye, points)])  # type: ignore[arg-type]
    return g


def expression(
    g: Geometry,
    image: np.ndarray,
    pose: Similarity,
    gains: Gains,
    irises: Sequence[float | None] | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """(FaceParams expression fields, ARKit-only extras) of a mesh as found in the image, at head ``pose``.

    ``irises``: per eye (avatar's left first), the iris shift read from the pixels since the neutral
    (:meth:`pyavatar.tracking.iris.IrisTemplate.locate`, eye widths from the first toward the last
    upper-lid point), or None where it was not found; it replaces the mesh's iris for that eye's gaze yaw.
    The gaze fields are left out when both eyes are (half) closed (the irises are not visible).
    """
    raw = raw_measures(g, pose.to_neutral(image))
    d = {k: raw[k] - g.base[k] for k in raw}
    h, mw = g.height, g.mouth_width
    clip = lambda v: float(min(1.0, max(0.0, v)))  # noqa: E731
    out: dict[str, float] = {}
    extras: dict[str, float] = {}
    lids, gaze = [], []
    for k, side in enumerate(("left", "right")):
        eye, base = raw[f"eye{k}"], g.base[f"eye{k}"]
        openness = eye[0] / max(base[0], 1e-6)
        out[f"blink_{side}"] = clip((1 - openness - gains.blink_dead) / (gains.blink_closed - gains.blink_dead))
        lids.append(openness)
        room = max(base[1] - base[2], 0.15 * base[1])
        half_h = max(base[0] / 2, 1e-6)
        du, dv = _iris_shift(g, g.eyes[k], image, pose) - g.base[f"iris{k}"]  # type: ignore[arg-type]
        seen = None if irises is None else irises[k]
        if seen is not None:  # the pixels' reading: the iris's own travel, no mesh iris involved
            yaw = seen * _toward_u(g, g.eyes[k]) * 2 * base[1] / (gains.gaze_shift_image * room) * 45.0  # type: ignore[arg-type]
        else:  # the mean of two mesh readings whose errors differ (the head fit at the eye vs the eye corners)
            within = _iris_in_eye(g, g.eyes[k], image) - g.base[f"iris_in_eye{k}"][0]  # type: ignore[arg-type]
            yaw = (du / (gains.gaze_shift * room) + within * 2 * base[1] / (gains.gaze_shift * room)) * 22.5
        gaze.append(
            (
                yaw,
                dv / (gains.gaze_lift * half_h) * 45.0,
                clip((openness - 0.5) / 0.5) ** 2,  # a half-closed lid hides the iris: trust it less
            )
        )
        out[f"brow_up_{side}"] = clip(-d[f"brow{k}"][0] / (gains.brow_up * h))
        extras[f"cheek_squint_{side}"] = clip(-d[f"cheek{k}"][0] / (gains.cheek * h))
    out["eye_wide"] = clip((min(lids) - 1) / gains.eye_wide)
    out["brow_down"] = clip(np.mean([d["brow0"][0], d["brow1"][0]]) / (gains.brow_down * h))
    weights = np.array([w for *_, w in gaze])
    if weights.sum() > 1e-3:
        out["gaze_yaw"] = float(np.clip(weights @ np.array([y for y, *_ in gaze]) / weights.sum(), -45, 45))
        out["gaze_pitch"] = float(np.clip(weights @ np.array([p for _, p, _ in gaze]) / weights.sum(), -45, 45))
    lips, base_lips = raw["lips"], g.base["lips"]
    jaw = clip(d["lips"][0] / (gains.jaw * h))
    out["jaw_open"] = jaw
    follow = gains.corner_jaw_share * d["lips"][1]
    lifts = [-(d[f"corner{k}"][1] - follow) for k in range(2)]
    out["smile_left"], out["smile_right"] = (clip(v / (gains.smile * h)) for v in lifts)
    out["mouth_frown"] = clip(-np.mean(lifts) / (gains.frown * h))
    width = raw["corner0"][0] - raw["corner1"][0]
    base_width = g.base["corner0"][0] - g.base["corner1"][0]
    grow = (width - base_width) / mw - 0.1 * (out["smile_left"] + out["smile_right"])
    out["mouth_wide"] = clip(grow / gains.mouth_wide)
    out["mouth_round"] = clip(-grow / gains.mouth_round)
    thickness = lips[2] / max(base_lips[2], 1e-6)
    extras["mouth_press"] = clip((1 - thickness) / gains.press) * (1 - jaw)
    aperture = lips[4] / max(lips[3], 1e-6)
    extras["mouth_funnel"] = clip(aperture / gains.funnel) * out["mouth_round"]
    return out, extras
