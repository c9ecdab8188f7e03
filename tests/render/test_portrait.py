"""Portrait preparation (any size / mode / EXIF, crop=, several faces, no face) and paste-back."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from render_helpers import TINY_LP_CONFIG

pytest.importorskip("mediapipe", reason="portrait tests need mediapipe==0.10.21 (pip install mediapipe==0.10.21)")
skimage_data = pytest.importorskip("skimage.data", reason="portrait tests need scikit-image (skimage.data.astronaut)")

from pyavatar.render import LivePortraitConfig, LivePortraitModels, NeuralRenderer  # noqa: E402
from pyavatar.render.liveportrait.keypoints import Motion  # noqa: E402
from pyavatar.render.portrait import (  # noqa: E402
    INPUT_SIZE,
    NoFaceError,
    feather_mask,
    load_image,
    prepare_portrait,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def renderer(landmarks) -> NeuralRenderer:
    models = LivePortraitModels(LivePortraitConfig.from_dict(TINY_LP_CONFIG)).randomize(seed=1)
    return NeuralRenderer(models, landmarks=landmarks, kernel_backend="cpp")


def _eye_line_angle(portrait) -> float:
    m = portrait.alignment.matrix
    left, right = (m[:, :2] @ p + m[:, 2] for p in portrait.face.eye_centers())
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def test_astronaut_face_found_and_centred(astronaut, landmarks) -> None:
    p = prepare_portrait(astronaut, landmarks=landmarks)
    assert p.faces_found == 1 and p.face.points.shape == (478, 2)
    assert p.crop256.shape == (INPUT_SIZE, INPUT_SIZE, 3) and p.crop256.dtype == np.uint8
    m = p.alignment.matrix
    nose = m[:, :2] @ p.face.points[1] + m[:, 2]  # mesh point 1: nose tip
    assert 180 < nose[0] < 330 and 180 < nose[1] < 360
    assert abs(_eye_line_angle(p)) < 5


def test_rotated_face_is_levelled(astronaut, landmarks) -> None:
    rotated = np.asarray(Image.fromarray(astronaut).rotate(25, resample=Image.BILINEAR))
    p = prepare_portrait(rotated, landmarks=landmarks)
    assert abs(_eye_line_angle(p)) < 5


def test_any_size_and_modes(astronaut, landmarks) -> None:
    big = np.asarray(Image.fromarray(astronaut).resize((1203, 1203)))
    canvas = np.full((1500, 2100, 3), 90, np.uint8)
    canvas[100:1303, 700:1903] = big
    p = prepare_portrait(canvas, landmarks=landmarks)
    assert p.size == (2100, 1500) and p.faces_found == 1
    gray = prepare_portrait(astronaut.mean(axis=2).astype(np.uint8), landmarks=landmarks)
    assert gray.rgb.shape == (512, 512, 3) and gray.faces_found == 1
    rgba = np.concatenate([astronaut, np.full((512, 512, 1), 200, np.uint8)], axis=2)
    p = prepare_portrait(rgba, landmarks=landmarks)
    assert p.alpha is not None and p.alpha.shape == (512, 512) and int(p.alpha[0, 0]) == 200
    small = np.asarray(Image.fromarray(astronaut).resize((160, 160)))
    assert prepare_portrait(small, landmarks=landmarks).faces_found == 1


def test_exif_orientation_is_applied(astronaut, landmarks, tmp_path) -> None:
    sideways = Image.fromarray(astronaut[:, :400]).transpose(Image.Transpose.ROTATE_90)  # stored rotated
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = tmp_path / "sideways.jpg"
    sideways.save(path, exif=exif.tobytes(), quality=95)
    rgb, alpha = load_image(path)
    assert rgb.shape == (512, 400, 3) and alpha is None
    p = prepare_portrait(path, landmarks=landmarks)
    assert p.faces_found == 1 and abs(_eye_line_angle(p)) < 5


def test_load_image_formats() -> None:
    buf = io.BytesIO()
    Image.new("LA", (30, 20), (128, 77)).save(buf, format="PNG")
    rgb, alpha = load_image(Image.open(io.BytesIO(buf.getvalue())))
    assert rgb.shape == (20, 30, 3) and int(rgb[0, 0, 1]) == 128 and int(alpha[0, 0]) == 77
    rgb, alpha = load_image(np.ones((5, 6, 1), np.float32))
    assert rgb.shape == (5, 6, 3) and rgb.max() == 255 and alpha is None
    with pytest.raises(ValueError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match="no such image"):
        load_image("/nonexistent/portrait.png")


def test_blank_image_without_face_suggests_crop(landmarks) -> None:
    blank = np.full((300, 400, 3), 240, np.uint8)
    with pytest.raises(NoFaceError, match=r"no face found in the 400x300 image; pass .* with --crop X,Y,W,H"):
        prepare_portrait(blank, landmarks=landmarks)
    p = prepare_portrait(blank, crop=(50, 40, 200, 120))
    assert p.face is None and p.crop256.shape == (256, 256, 3)
    m = p.alignment.matrix  # box centre → crop centre, side 200 → 512
    assert np.allclose(m[:, :2], np.eye(2) * 512 / 200)
    assert np.allclose(m[:, :2] @ [149.5, 99.5] + m[:, 2], [255.5, 255.5])


def test_several_faces_largest_first_and_selectable(astronaut, landmarks) -> None:
    face = astronaut[0:260, 120:340]
    small = np.asarray(Image.fromarray(face).resize((110, 130)))
    canvas = np.full((300, 600, 3), 200, np.uint8)
    canvas[20:280, 10:230] = face
    canvas[80:210, 400:510] = small
    first = prepare_portrait(canvas, landmarks=landmarks)
    assert first.faces_found == 2 and first.face.box[0] < 230
    second = prepare_portrait(canvas, landmarks=landmarks, face_index=1)
    assert second.face.box[0] > 380 and second.face.area < first.face.area
    with pytest.raises(NoFaceError, match="--face-index 2 out of range: 2 face"):
        prepare_portrait(canvas, landmarks=landmarks, face_index=2)


def test_paste_back_of_the_crop_reproduces_the_original(astronaut, landmarks) -> None:
    p = prepare_portrait(astronaut, landmarks=landmarks)
    crop512 = torch.from_numpy(p.alignment.crop(p.rgb, 512)).permute(2, 0, 1)[None].float() / 255
    frames = p.paste_back()(crop512.repeat(2, 1, 1, 1))
    assert frames.shape == (2, 512, 512, 3) and frames.dtype == torch.uint8
    diff = (frames[0].int() - torch.from_numpy(astronaut).int()).abs().float()
    assert float(diff.mean()) < 0.5 and float(torch.quantile(diff.flatten(), 0.99)) <= 6


def test_feather_mask() -> None:
    m = feather_mask(512, 0.08)
    assert m.shape == (512, 512) and m[256, 256] == 1.0 and m[0, 256] < 0.01
    assert 0.8 < float(m.mean()) < 0.95 and np.allclose(m, m.T) and np.allclose(m, m[::-1])


def test_render_any_size_keeps_size_and_background(renderer, astronaut) -> None:
    canvas = np.full((700, 900, 3), 33, np.uint8)
    canvas[100:612, 300:812] = astronaut
    prepared = renderer.prepare(canvas)
    src = prepared.source
    assert src.feature.shape == (1, 2, 16, 64, 64)
    yaw = src.degrees[:, 1] + torch.tensor([0.0, 10.0])
    motion = Motion.from_angles(
        src.degrees[:, 0].expand(2),
        yaw,
        src.degrees[:, 2].expand(2),
        src.motion.exp.expand(2, -1, -1),
        src.motion.t.expand(2, -1),
        src.motion.scale.expand(2, -1),
    )
    frames = renderer.render(prepared, motion)
    assert frames.shape == (2, 700, 900, 3) and frames.dtype == torch.uint8
    x0, y0, x1, y1 = prepared.paste.roi
    outside = torch.ones(700, 900, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert torch.equal(frames[:, outside], torch.from_numpy(canvas)[outside].expand(2, -1, -1))
    assert not torch.equal(frames[0, y0:y1, x0:x1], torch.from_numpy(canvas)[y0:y1, x0:x1])
    assert not torch.equal(frames[0], frames[1])


def test_render_with_crop_box_on_rgba(renderer) -> None:
    gen = np.random.default_rng(0)
    rgba = gen.integers(0, 255, (240, 320, 4), dtype=np.uint8)
    prepared = renderer.prepare(rgba, crop=(100, 50, 120, 120))
    src = prepared.source
    frames = renderer.render(prepared, src.motion).numpy()
    out = prepared.portrait.with_alpha(frames)
    assert out.shape == (1, 240, 320, 4) and np.array_equal(out[0, ..., 3], rgba[..., 3])
