"""Classical renderer image quality (issue #16): sharpness while speaking, no dark seam, animals via a face template.

* Sharpness: over speaking frames (idle head motion, jaw, gaze) the face's
  Laplacian variance, mouth excluded, stays ≥ 90 % of the source's (the
  astronaut and matplotlib's Grace Hopper, full-size output).
* Dark dots: at rest with every emotion preset (its jaw offset removed), no
  pixel inside the lips is darker than the source's darkest lip pixel.
* The cat (no detectable face) animates from ``crop`` + ``face_points``: the
  mouth opens inside the crop and the eyes close — the lids are opened to the
  eyes' rims, so a blink hides (almost) all of each yellow-green iris.
* The cat's shut lid is fur (at least 75 % of the fine detail of the fur above
  the eye), not a smooth lid-coloured shell.
* Head motion leaves the neck, collar and chest under the face in place.
* A drawing's shut eye is a clean lid: no shaded band above the closed lid line
  (under 3 % of the lid darker than its skin), and an ink line along it.
* Turned heads keep at least 76 % of the nose's parallax against the face's
  edges that the uncapped depth gives (the slope cap must not flatten the head).
* A thick drawn lower eye outline leaves no second line under the shut eye.
* Yaw ±25° and pitch ±15° do not smear a sliver of texture (an ear, a glasses
  temple) across the revealed side of the head: no face triangle is stretched
  more than 2.5×, and the rings around the face stretch less than 1.6×.
* Yaw ±25° and pitch ±15° (alone and together) turn the side turning away as one
  surface: no triangle of the face or the rings folds over (the cheek sliding over
  the face's edge met the hair beyond in a hard straight seam at the temple: 1.2–1.4 %
  of the face folded at yaw −25° before Mesh.turn_depth).
* A face template reaching past the photo's edge (the cat) pitches ±15° without
  streaks: what comes into view beyond the edge is the photo mirrored there.
* A wide-open jaw (``jaw_open`` = 1, where ``--lip-scale 3`` holds speech)
  opens the lips by at most 0.175 face heights (it was 0.2) and stretches no triangle below
  the lower lip (chin, jaw line, neck) more than 1.32× (it was 1.36×).
"""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the classical renderer tests need OpenCV (installed with mediapipe)")
pytest.importorskip("mediapipe", reason="the classical renderer needs mediapipe==0.10.21 (landmarks and mesh)")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image for the sample photos")
cbook = pytest.importorskip("matplotlib.cbook", reason="needs matplotlib for grace_hopper.jpg")

from PIL import Image  # noqa: E402

from pyavatar.face.params import FaceParams  # noqa: E402
from pyavatar.motion.emotion import PRESET_NAMES, preset  # noqa: E402
from pyavatar.motion.idle import IdleMotion  # noqa: E402
from pyavatar.render.classical import ClassicalRenderer  # noqa: E402
from pyavatar.render.classical import topology as tp  # noqa: E402
from pyavatar.render.classical.deform import Rig  # noqa: E402
from pyavatar.render.classical.depth import landmark_depth  # noqa: E402
from pyavatar.render.classical.mesh import build_mesh  # noqa: E402
from pyavatar.render.classical.template import drawn_face  # noqa: E402

CAT_CROP = (80.0, 30.0, 320.0, 270.0)  # skimage.data.chelsea(): face box, eyes and mouth centre
CAT_POINTS = ((170.0, 115.0), (318.0, 137.0), (258.0, 282.0))


def grace_hopper() -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.asarray(im.convert("RGB"))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _lip_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    poly = np.concatenate([points[list(tp.LIPS_OUTER_UPPER)], points[list(tp.LIPS_OUTER_LOWER)][::-1]])
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask.astype(bool)


def _laplacian_variance(frame: np.ndarray, box: tuple[int, int, int, int], keep: np.ndarray) -> float:
    x0, y0, x1, y1 = box
    lap = cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_64F)
    return float(lap[y0:y1, x0:x1][keep[y0:y1, x0:x1]].var())


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_speaking_frames_keep_the_face_sharp(landmarks, name: str) -> None:
    image = skimage_data.astronaut() if name == "astronaut" else grace_hopper()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(image)
    np.testing.assert_array_equal(renderer.render(prepared, FaceParams.neutral()), image)  # still = untouched
    keep = np.ones(image.shape[:2], bool)  # the mouth's own new edges would flatter the figure: leave it out
    x0, y0 = prepared.roi[:2]
    lips = prepared.mesh.source[list(tp.LIPS_OUTER_UPPER + tp.LIPS_OUTER_LOWER)] + np.array([x0, y0])
    lo, hi = lips.min(axis=0), lips.max(axis=0)
    pad = 0.5 * (hi - lo)[1] + 0.1 * (hi - lo)[0]
    bottom = hi[1] + 0.2 * prepared.mesh.face_height
    keep[int(lo[1] - pad) : int(bottom), int(lo[0] - pad) : int(hi[0] + pad)] = False
    n = 12
    idle = IdleMotion(fps=25, seed=0).generate(n, np.ones(n), np.full(n, 140.0), np.full(n, -20.0))
    moves = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "gaze_yaw", "gaze_pitch")
    source = _laplacian_variance(image, prepared.face_box, keep)
    speaking = []
    for t in range(n):
        params = FaceParams.from_fields(jaw_open=0.25 + 0.25 * np.sin(0.9 * t), **{k: float(idle[k][t]) for k in moves})
        frame = renderer.render(prepared, params)
        assert np.abs(frame.astype(int) - image).max() > 20  # the face did move
        speaking.append(_laplacian_variance(frame, prepared.face_box, keep))
    ratio = float(np.median(speaking)) / source
    assert ratio >= 0.9, f"{name}: speaking frames keep {ratio:.0%} of the source's Laplacian variance"


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "drawing"])
def test_no_dark_dots_on_the_lips_at_rest_for_any_emotion(landmarks, name: str) -> None:
    image = {"astronaut": skimage_data.astronaut, "grace_hopper": grace_hopper, "drawing": drawn_face}[name]()
    renderer = ClassicalRenderer(output="crop", landmarks=landmarks)
    prepared = renderer.prepare(image)
    darkest = _luma(prepared.canvas)[_lip_mask(prepared.mesh.source, prepared.canvas.shape)].min()
    for emotion in PRESET_NAMES:
        params = FaceParams.from_fields(**(preset(emotion) | {"jaw_open": 0.0}))
        frame = renderer.render(prepared, params)
        positions = prepared.rig.positions(params, prepared.rig.coefficients(params), 0)
        lips = _lip_mask(positions[:, :2], frame.shape)
        dots = int((_luma(frame)[lips] < darkest - 2.0).sum())  # 2 levels: rounding of a moved pixel
        assert dots == 0, f"{name} {emotion}: {dots} lip pixels darker than the source's darkest ({darkest:.0f})"


def test_the_cat_blinks_and_opens_its_mouth_from_a_crop_and_face_points(landmarks) -> None:
    cat = skimage_data.chelsea()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(cat, crop=CAT_CROP, face_points=CAT_POINTS)
    np.testing.assert_allclose(prepared.face.eye_centers()[0], CAT_POINTS[0], atol=1e-6)  # pinned where asked
    np.testing.assert_allclose(prepared.face.mouth_center(), CAT_POINTS[2], atol=1.0)
    rest = renderer.render(prepared, FaceParams.neutral())
    np.testing.assert_array_equal(rest, cat)
    x, y, w, h = (int(v) for v in CAT_CROP)
    # mouth: new dark cavity pixels around the mouth centre, inside the crop
    opened = renderer.render(prepared, FaceParams.from_fields(jaw_open=1.0))
    mx, my = (int(v) for v in CAT_POINTS[2])
    mouth = np.s_[max(y, my - int(0.05 * h)) : min(y + h, my + int(0.2 * h)), mx - int(0.2 * w) : mx + int(0.2 * w)]
    cavity = (_luma(opened[mouth]) < 60) & (_luma(cat[mouth]) >= 60)
    rows = np.nonzero(cavity.sum(axis=1) >= 3)[0]
    assert cavity.sum() > 200, f"only {cavity.sum()} new dark pixels around the cat's mouth"
    assert rows.max() - rows.min() >= 0.04 * h, f"the mouth opened {rows.max() - rows.min()} px of a {h} px crop"
    # eyes: the lid covers the middle of each eye
    closed = renderer.render(prepared, FaceParams.from_fields(blink_left=1.0, blink_right=1.0))
    for ex, ey in CAT_POINTS[:2]:
        patch = np.s_[int(ey) - 4 : int(ey) + 5, int(ex) - 4 : int(ex) + 5]
        assert np.abs(_luma(closed[patch]) - _luma(cat[patch])).mean() > 25, f"the eye at ({ex}, {ey}) did not close"


def test_crop_alone_fits_the_template_and_the_cli_and_sdk_pass_face_points(landmarks) -> None:
    from pyavatar.cli.commands.render import parse_face_points
    from pyavatar.sdk import Avatar

    cat = skimage_data.chelsea()
    prepared = ClassicalRenderer(output="full", landmarks=landmarks).prepare(cat, crop=CAT_CROP)
    lo, hi = prepared.face.points.min(axis=0), prepared.face.points.max(axis=0)
    np.testing.assert_allclose([*lo, *(hi - lo)], CAT_CROP, atol=1e-6)  # the template fills the box
    points = parse_face_points("170,115,318,137,258,282")
    assert points == CAT_POINTS
    with pytest.raises(ValueError, match="--face-points: expected LX,LY,RX,RY,MX,MY"):
        parse_face_points("1,2,3")
    avatar = Avatar.from_image(cat, renderer="classical", crop=CAT_CROP, face_points=points)
    eyes = avatar.prepared.state.face.eye_centers()
    np.testing.assert_allclose(eyes[1], CAT_POINTS[1], atol=1e-6)
    assert avatar.prepare_renderer("classical").state.face.points.shape == (478, 2)

    class NoPoints:  # a renderer whose prepare takes no face points
        name = "nopoints"

        def prepare(self, image, *, crop=None, face_index=0):
            return None

        def render_params(self, prepared, params):
            return np.zeros((len(params), 8, 8, 3), np.uint8)

    with pytest.raises(ValueError, match="--face-points: the 'nopoints' renderer does not take face points"):
        Avatar.from_image(cat, renderer=NoPoints(), face_points=points)


def _cat_iris(rgb: np.ndarray) -> np.ndarray:
    """The cat's yellow-green iris pixels (its fur is a redder orange): OpenCV hue 19-40, saturated, not dark."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV).astype(int)
    return (hsv[..., 0] >= 19) & (hsv[..., 0] <= 40) & (hsv[..., 1] >= 120) & (hsv[..., 2] >= 70)


def test_the_cats_blink_covers_its_whole_eyes(landmarks) -> None:
    cat = skimage_data.chelsea()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(cat, crop=CAT_CROP, face_points=CAT_POINTS)
    np.testing.assert_array_equal(renderer.render(prepared, FaceParams.neutral()), cat)  # the eye warp is a rest pose
    closed = renderer.render(prepared, FaceParams.from_fields(blink_left=1.0, blink_right=1.0))
    for (ex, ey), axes in zip(CAT_POINTS[:2], ((32, 27), (26, 24)), strict=True):  # each eye's rim, by eye
        eye = np.zeros(cat.shape[:2], np.uint8)
        cv2.ellipse(eye, (int(ex), int(ey) + 1), axes, 0, 0, 360, 1, -1)
        eye = eye.astype(bool)
        before, after = int((_cat_iris(cat) & eye).sum()), int((_cat_iris(closed) & eye).sum())
        assert before > 400, f"the iris test found only {before} iris pixels in the eye at ({ex:g}, {ey:g})"
        assert after < 0.03 * before, f"the closed lid leaves {after} of {before} iris pixels at ({ex:g}, {ey:g})"


def _detail(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Standard deviation of the luma's fine detail (minus a 1.5 px blur) inside ``mask``."""
    luma = _luma(rgb).astype(np.float32)
    return float((luma - cv2.GaussianBlur(luma, (0, 0), 1.5))[mask].std())


def test_the_cats_closed_lid_is_fur(landmarks) -> None:
    """The shut lid shows fur texture (slid down from above the eye), not a smooth lid-coloured shell."""
    cat = skimage_data.chelsea()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(cat, crop=CAT_CROP, face_points=CAT_POINTS)
    closed = renderer.render(prepared, FaceParams.from_fields(blink_left=1.0, blink_right=1.0))
    for eye in prepared.mesh.eyes:
        rim = np.concatenate([prepared.mesh.source[list(eye.upper)], prepared.mesh.source[list(eye.lower)][::-1]])
        mask = np.zeros(cat.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(rim).astype(np.int32)], 1)
        core = cv2.erode(mask, np.ones((9, 9), np.uint8)).astype(bool)  # the lid, away from the lid line and rims
        above = np.roll(mask.astype(bool), -int(1.2 * np.ptp(rim[:, 1])), axis=0)  # fur above the eye
        lid, fur = _detail(closed, core), _detail(cat, above)
        # measured: 0.92-1.02 of the fur's detail (the earlier smooth lid shell: 0.39-0.56)
        assert lid > 0.75 * fur, f"{eye.side} eye: closed-lid detail {lid:.2f} against the fur's {fur:.2f}"


def test_a_drawings_closed_lid_is_clean_skin_over_an_ink_line(landmarks) -> None:
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(drawn_face())
    mesh, offset = prepared.mesh, np.array(prepared.roi[:2])
    params = FaceParams.from_fields(blink_left=1.0, blink_right=1.0)
    luma = _luma(renderer.render(prepared, params))
    shut = prepared.rig.positions(params, prepared.rig.coefficients(params), 0)[:, :2] + offset
    for eye in mesh.eyes:
        lid = np.concatenate([mesh.source[list(eye.upper)] + offset, (shut[list(eye.upper)] - [0, 2.0])[::-1]])
        mask = np.zeros(luma.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(lid).astype(np.int32)], 1)
        mask = mask.astype(bool)
        skin = float(np.median(luma[mask]))
        band = float((luma[mask] < skin - 20).mean())
        assert band < 0.03, f"{eye.side} eye: {band:.0%} of the closed lid is shaded darker than its skin"
        line = np.zeros(luma.shape, np.uint8)
        cv2.polylines(line, [np.round(shut[list(eye.upper)]).astype(np.int32)], False, 1, thickness=5)
        ink = int((luma[line.astype(bool)] < skin - 80).sum())
        assert ink >= 0.5 * np.ptp(shut[list(eye.upper), 0]), f"{eye.side} eye: only {ink} ink pixels on the lid line"


def test_a_drawn_eyes_thick_lower_outline_leaves_no_second_line_when_shut(landmarks) -> None:
    image = drawn_face()
    for cx in (212, 300):  # drawn_face's eyes with a thick lower outline too
        cv2.ellipse(image, (cx, 238), (25, 13), 0, 0, 180, (40, 25, 20), 4)
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(image)
    mesh, offset = prepared.mesh, np.array(prepared.roi[:2])
    params = FaceParams.from_fields(blink_left=1.0, blink_right=1.0)
    luma = _luma(renderer.render(prepared, params))
    shut = prepared.rig.positions(params, prepared.rig.coefficients(params), 0)[:, :2] + offset
    for eye in mesh.eyes:
        lower = list(eye.lower)  # from below the shut line down past where the outline was
        below = np.concatenate([shut[lower] + [0, 6.0], (mesh.source[lower] + offset + [0, 7.0])[::-1]])
        mask = np.zeros(luma.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(below).astype(np.int32)], 1)
        mask = mask.astype(bool)
        dark = float((luma[mask] < np.median(luma[mask]) - 20).mean())
        # measured: 0 % (22-36 % before the second ring below the eye turned to skin with the blink)
        assert dark < 0.03, f"{eye.side} eye: {dark:.0%} of the skin under the shut line is a leftover outline"


def test_head_motion_leaves_the_body_below_the_neck_still(landmarks) -> None:
    image = skimage_data.astronaut()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(image)
    chin_y = prepared.mesh.source[tp.CHIN, 1] + prepared.roi[1]
    y = int(np.ceil(chin_y + 0.5 * prepared.mesh.face_height))  # collar and shoulders
    assert y < image.shape[0] - 50
    for fields in ({"head_yaw": 12.0, "head_x": 0.05}, {"head_pitch": 10.0, "head_roll": 8.0}, {"head_y": 0.06}):
        frame = renderer.render(prepared, FaceParams.from_fields(**fields))
        assert np.abs(frame[: y - 40].astype(int) - image[: y - 40]).max() > 20  # the head did move
        body = np.s_[y:, prepared.face_box[0] : prepared.face_box[2]]  # neck, collar and chest under the face
        moved = np.abs(frame[body].astype(int) - image[body]).max()  # ≤ 2: resampling at the band's edge
        assert moved <= 2, f"the body moved with {fields}: up to {moved} levels"


def _stretch(source: np.ndarray, moved: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle: the largest singular value of its source → moved affine map, and its moved area (px²)."""
    s0, s1 = source[triangles[:, 1]] - source[triangles[:, 0]], source[triangles[:, 2]] - source[triangles[:, 0]]
    m0, m1 = moved[triangles[:, 1]] - moved[triangles[:, 0]], moved[triangles[:, 2]] - moved[triangles[:, 0]]
    src, dst = np.stack([s0, s1], axis=-1), np.stack([m0, m1], axis=-1)
    ok = np.abs(np.linalg.det(src)) > 1e-9
    out = np.full(len(triangles), np.inf)
    out[ok] = np.linalg.svd(dst[ok] @ np.linalg.inv(src[ok]), compute_uv=False)[:, 0]
    return out, 0.5 * np.abs(np.cross(m0, m1))


@pytest.mark.parametrize("name", ["grace_hopper", "drawing"])
def test_turned_heads_do_not_smear_the_side_of_the_head(landmarks, name: str) -> None:
    image = grace_hopper() if name == "grace_hopper" else drawn_face()
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(image)
    mesh, rig = prepared.mesh, prepared.rig
    source = mesh.source.astype(np.float64)
    surface = mesh.triangles.max(axis=1) < tp.NUM_MESH  # MediaPipe's face tesselation
    rings = (mesh.rigid[mesh.triangles] < 1).any(axis=1)  # from the face oval out to the canvas border
    for fields in ({"head_yaw": -25.0}, {"head_yaw": 25.0}, {"head_pitch": -15.0}, {"head_pitch": 15.0}):
        params = FaceParams.from_fields(**fields)
        moved = rig.positions(params, rig.coefficients(params), 0)[:, :2].astype(np.float64)
        stretch, area = _stretch(source, moved, mesh.triangles)
        smeared = area[surface & (stretch > 2.5)].sum() / area[surface].sum()
        assert smeared < 0.002, f"{name} {fields}: {smeared:.1%} of the face is stretched more than 2.5x"
        assert stretch[rings].max() < 1.6, f"{name} {fields}: a ring triangle stretches {stretch[rings].max():.2f}x"
        frame = renderer.render(prepared, params)
        assert np.abs(frame.astype(int) - image).max() > 20, f"{name} {fields}: the head did not move"


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "drawing"])
def test_turned_heads_do_not_fold_the_far_side_over(landmarks, name: str) -> None:
    images = {"astronaut": skimage_data.astronaut, "grace_hopper": grace_hopper, "drawing": drawn_face}
    prepared = ClassicalRenderer(output="full", landmarks=landmarks).prepare(images[name]())
    mesh, rig = prepared.mesh, prepared.rig
    tri = mesh.triangles

    def signed_area(xy: np.ndarray) -> np.ndarray:
        e1, e2 = xy[tri[:, 1]] - xy[tri[:, 0]], xy[tri[:, 2]] - xy[tri[:, 0]]
        return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])

    before = signed_area(mesh.source.astype(np.float64))
    considered = (np.abs(before) > 1.0) & ((tri.max(axis=1) < tp.NUM_MESH) | (mesh.rigid[tri] < 1).any(axis=1))
    face = np.abs(before[tri.max(axis=1) < tp.NUM_MESH]).sum()
    turns = ({"head_yaw": -25.0}, {"head_yaw": 25.0}, {"head_pitch": -15.0}, {"head_pitch": 15.0})
    both = [{"head_yaw": y, "head_pitch": p} for y in (-25.0, 25.0) for p in (-15.0, 15.0)]
    for fields in (*turns, *both):
        params = FaceParams.from_fields(**fields)
        after = signed_area(rig.positions(params, rig.coefficients(params), 0)[:, :2].astype(np.float64))
        folded = considered & (np.sign(after) != np.sign(before))
        share = np.abs(after[folded]).sum() / face
        # measured: 0 % for every turn here (1.2-1.4 % at yaw -25 before Mesh.turn_depth)
        assert share < 0.001, f"{name} {fields}: {share:.2%} of the face's area is folded over"


def test_a_face_past_the_photos_edge_pitches_without_streaks(landmarks) -> None:
    """The cat's face template reaches past the photo's top and bottom: a pitch brings what lies beyond into view.

    It is the photo mirrored at its edge, moving with the head (not the edge's last row
    stretched into vertical streaks): in the band along that edge, across the face, the
    vertical detail stays comparable to the horizontal, as in the photo (0.68 / 0.93).
    """
    renderer = ClassicalRenderer(output="full", landmarks=landmarks)
    prepared = renderer.prepare(skimage_data.chelsea(), crop=CAT_CROP, face_points=CAT_POINTS)
    for pitch, band in ((15.0, np.s_[:25, 100:380]), (-15.0, np.s_[-25:, 100:380])):
        luma = _luma(renderer.render(prepared, FaceParams.from_fields(head_pitch=pitch)))[band]
        ratio = np.abs(np.diff(luma, axis=0)).mean() / np.abs(np.diff(luma, axis=1)).mean()
        # measured: 0.91 (top, pitch 15) and 0.90 (bottom, pitch -15); 0.22 and 0.29 with the edge row stretched
        assert ratio > 0.5, f"pitch {pitch}: vertical/horizontal detail {ratio:.2f} along the photo's edge (streaks)"


@pytest.mark.parametrize("name", ["grace_hopper", "drawing"])
def test_turned_heads_keep_most_of_the_turn(landmarks, name: str) -> None:
    """The slope cap must not flatten the head: the nose moves against the face's edges nearly as far as uncapped.

    The uncapped head also moves every point by its own depth (no fold-free turn fields).
    """
    image = grace_hopper() if name == "grace_hopper" else drawn_face()
    prepared = ClassicalRenderer(output="full", landmarks=landmarks).prepare(image)
    mesh = prepared.mesh
    n = tp.NUM_LANDMARKS
    uncapped = Rig(
        build_mesh(
            mesh.source[:n],
            landmark_depth(prepared.canvas, mesh.source[:n]),
            mesh.size,
            depth_slope=np.inf,
            turn_fold_free=False,
        )
    )
    edges = list(tp.CHEEK_EDGES)

    def parallax(rig: Rig, yaw: float) -> float:  # nose tip against the midpoint of the face's edges, along u
        params = FaceParams.from_fields(head_yaw=yaw)
        pos = rig.positions(params, rig.coefficients(params), 0)[:, :2].astype(np.float64)
        return float((pos[tp.NOSE_TIP] - pos[edges].mean(axis=0)) @ mesh.frame.u)

    for yaw in (-20.0, 20.0):
        kept = (parallax(prepared.rig, yaw) - parallax(prepared.rig, 0.0)) / (
            parallax(uncapped, yaw) - parallax(uncapped, 0.0)
        )
        # measured: 0.84-0.87 (0.81-0.83 before the fold-free turn fields; 0.67-0.68 with the earlier cap: slope 2,
        # far vertices only brought forward)
        assert kept >= 0.76, f"{name} yaw {yaw}: the turn keeps {kept:.2f} of the uncapped head's parallax"


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_wide_open_jaw_keeps_the_mouth_and_chin_plausible(landmarks, name: str) -> None:
    image = skimage_data.astronaut() if name == "astronaut" else grace_hopper()
    prepared = ClassicalRenderer(output="full", landmarks=landmarks).prepare(image)
    mesh, rig = prepared.mesh, prepared.rig
    source = mesh.source.astype(np.float64)
    lip_bottom = mesh.frame.to_face(source[[17]])[0, 1]  # lowest point of the lower lip
    below = mesh.frame.to_face(source[mesh.triangles].reshape(-1, 2))[:, 1].reshape(-1, 3).min(axis=1) > lip_bottom

    def moved(**fields: float) -> np.ndarray:
        params = FaceParams.from_fields(**fields)
        return rig.positions(params, rig.coefficients(params), 0)[:, :2].astype(np.float64)

    rest = moved()
    for fields in ({"jaw_open": 1.0}, {"jaw_open": 1.0, "mouth_wide": 0.5}):
        pos = moved(**fields)
        opening = (np.linalg.norm(pos[14] - pos[13]) - np.linalg.norm(rest[14] - rest[13])) / mesh.face_height
        assert 0.08 < opening <= 0.175, f"{name} {fields}: the lips part by {opening:.3f} face heights"
        stretch, _ = _stretch(source, pos, mesh.triangles)
        assert stretch[below].max() < 1.32, f"{name} {fields}: the chin stretches {stretch[below].max():.2f}x"
