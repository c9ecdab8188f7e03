"""FaceParams ↔ LivePortrait motion on the fixtures' weights, and the neural renderer behind FaceRenderer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from render_helpers import TINY_LP_CONFIG

from pyavatar.face.params import FaceParams
from pyavatar.render.liveportrait.bridge import (
    EYE_WIDE_GAIN,
    LIP_OPEN_RATIO,
    LivePortraitBridge,
    _degrees_from_rotation,
    expression_basis,
)
from pyavatar.render.liveportrait.config import LivePortraitConfig
from pyavatar.render.liveportrait.keypoints import Motion
from pyavatar.render.liveportrait.weights import LivePortraitModels, load_liveportrait

EYES, LIP = (0.31, 0.27), 0.04


@pytest.fixture(scope="module")
def lp(shared_dir: Path):
    """Reduced models with the fixture weights and the e2e source motion."""
    from safetensors.torch import load_file

    d = shared_dir / "fixtures" / "liveportrait"
    if not (d / "config_reduced.json").is_file():
        pytest.skip(f"LivePortrait fixtures not found in {d}")
    torch.set_num_threads(2)
    models = load_liveportrait(d / "weights", LivePortraitConfig.from_json(d / "config_reduced.json"))
    e2e = load_file(str(d / "e2e.io.safetensors"))
    motion = Motion.from_angles(
        e2e["x_s_info.pitch_deg"],
        e2e["x_s_info.yaw_deg"],
        e2e["x_s_info.roll_deg"],
        e2e["x_s_info.exp"],
        e2e["x_s_info.t"],
        e2e["x_s_info.scale"],
    )
    templates = load_file(str(d / "real_motion_templates.safetensors"))
    return models, e2e["x_s_info.kp"], motion, templates


@pytest.fixture(scope="module")
def bridge(lp):
    models, canonical, motion, _ = lp
    b = LivePortraitBridge(models.stitching_retargeting_module)
    return b, b.calibrate(canonical, motion, EYES, LIP)


def _assert_fields(got: FaceParams, want: FaceParams, tol: dict[str, float]) -> None:
    for field, atol in tol.items():
        np.testing.assert_allclose(got[field], want[field], atol=atol, err_msg=field)


def test_zero_params_give_the_source_motion(bridge, lp) -> None:
    b, src = bridge
    _, _, motion, _ = lp
    m = b.to_motion(src, FaceParams.neutral(3))
    assert m.batch == 3
    torch.testing.assert_close(m.rotation, motion.rotation.expand(3, -1, -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(m.exp, motion.exp.expand(3, -1, -1), atol=1e-7, rtol=0)
    torch.testing.assert_close(m.t, motion.t.expand(3, -1), atol=1e-7, rtol=0)
    torch.testing.assert_close(m.scale, motion.scale.expand(3, -1), atol=1e-7, rtol=0)


def test_round_trip_pose_openings_and_translation(bridge) -> None:
    b, src = bridge
    p = FaceParams.from_fields(
        head_yaw=np.array([20.0, -10.0, 5.0, 0.0]),
        head_pitch=np.array([5.0, -8.0, 0.0, 12.0]),
        head_roll=np.array([3.0, 0.0, -6.0, 0.0]),
        head_x=np.array([0.1, 0.0, -0.05, 0.0]),
        head_y=np.array([0.0, 0.08, 0.0, 0.0]),
        head_z=np.array([0.0, 0.1, 0.0, -0.05]),
        jaw_open=np.array([0.5, 1.0, 0.3, 0.0]),
        blink_left=np.array([1.0, 0.0, 0.4, 0.0]),
        blink_right=np.array([0.2, 0.0, 0.4, 0.0]),
        eye_wide=np.array([0.0, 0.6, 0.0, 0.0]),
    )
    back = b.from_motion(src, b.to_motion(src, p))
    _assert_fields(
        back,
        p,
        {"head_yaw": 1e-3, "head_pitch": 1e-3, "head_roll": 1e-3, "head_x": 1e-5, "head_y": 1e-5, "head_z": 1e-5},
    )
    grid = (1 + EYE_WIDE_GAIN) / 100
    _assert_fields(back, p, {"jaw_open": 0.011, "blink_left": grid + 1e-3, "blink_right": grid + 1e-3})
    np.testing.assert_allclose(back.eye_wide, p.eye_wide, atol=grid / EYE_WIDE_GAIN + 1e-3)


def test_openings_go_through_the_retargeting_mlps(bridge, lp) -> None:
    b, src = bridge
    models, _, motion, _ = lp
    s = models.stitching_retargeting_module
    x_s = src.keypoints
    m = b.to_motion(src, FaceParams.from_fields(jaw_open=1.0))
    with torch.inference_mode():
        want = s.lip_delta(x_s, torch.tensor([[LIP, LIP_OPEN_RATIO]])) - s.lip_delta(x_s, torch.tensor([[LIP, LIP]]))
    torch.testing.assert_close((m.exp - motion.exp) * motion.scale[:, :, None], want, atol=1e-7, rtol=1e-4)
    assert want.abs().max() > 1e-5
    # both eyes closing together: one eye-MLP delta at target 0 (the side split changes nothing)
    m = b.to_motion(src, FaceParams.from_fields(blink_left=1.0, blink_right=1.0))
    mean = sum(EYES) / 2
    with torch.inference_mode():
        want = s.eye_delta(x_s, torch.tensor([[*EYES, 0.0]])) - s.eye_delta(x_s, torch.tensor([[*EYES, mean]]))
    torch.testing.assert_close((m.exp - motion.exp) * motion.scale[:, :, None], want, atol=1e-7, rtol=1e-4)
    # one eye: only the keypoints on the avatar's left (image right, +x) move
    m = b.to_motion(src, FaceParams.from_fields(blink_left=1.0))
    change = (m.exp - motion.exp).abs().amax(dim=(0, 2))
    moved = change > 1e-3 * change.max()
    assert moved.any() and bool((moved <= src.left).all())


def test_pose_signs_follow_the_keypoint_frame(bridge) -> None:
    b, src = bridge
    m = b.to_motion(
        src,
        FaceParams.from_fields(
            head_yaw=np.array([20.0, 0, 0]), head_pitch=np.array([0, 10.0, 0]), head_roll=np.array([0, 0, 15.0])
        ),
    )
    rel = _degrees_from_rotation(m.rotation @ src.motion.rotation.transpose(1, 2).expand(3, -1, -1)).float()
    torch.testing.assert_close(rel, torch.tensor([[0, -20.0, 0], [10.0, 0, 0], [0, 0, -15.0]]), atol=1e-3, rtol=0)
    # turning toward the avatar's left (image right) brings the front of the face (−z) toward +x
    front = FaceParams.from_fields(head_yaw=20.0)
    x_d = b.to_motion(src, front).keypoints(src.canonical)
    nose_like = int(src.keypoints[0, :, 2].argmin())  # the keypoint nearest the camera
    assert x_d[0, nose_like, 0] > src.keypoints[0, nose_like, 0]


def test_real_motion_reads_as_head_turns(bridge, lp) -> None:
    """shake_face (real M output): yaw read back equals the template's own relative yaw, sign flipped."""
    b, src = bridge
    _, _, _, t = lp
    rot, exp, tr, sc = (t[f"shake_face.{k}"] for k in ("R", "exp", "t", "scale"))
    first = Motion(rot[:1], exp[:1], tr[:1], sc[:1])
    calib = b.calibrate(src.canonical, first, EYES, LIP)
    read = b.from_motion(calib, Motion(rot, exp, tr, sc))
    rel = _degrees_from_rotation(rot @ rot[:1].transpose(1, 2).expand(len(rot), -1, -1))
    np.testing.assert_allclose(read.head_yaw, -rel[:, 1].numpy(), atol=1e-3)
    assert read.head_yaw.max() - read.head_yaw.min() > 20  # the head really shakes
    assert abs(read.head_yaw[0]) < 1e-3


def test_expression_basis_round_trip(lp) -> None:
    models, canonical, motion, t = lp
    laugh = Motion(t["laugh.R"], t["laugh.exp"], t["laugh.t"], t["laugh.scale"])
    peak = int((laugh.exp - laugh.exp[:1]).abs().sum(dim=(1, 2)).argmax())
    pick = Motion(*(x[peak : peak + 1] for x in (laugh.rotation, laugh.exp, laugh.t, laugh.scale)))
    first = Motion(*(x[:1] for x in (laugh.rotation, laugh.exp, laugh.t, laugh.scale)))
    basis = expression_basis(first, {"happy": (pick, 1.0)})
    b = LivePortraitBridge(models.stitching_retargeting_module, basis)
    calib = b.calibrate(canonical, motion, EYES, LIP)
    p = FaceParams.from_fields(
        happy=np.array([0.0, 0.4, 0.9]), jaw_open=np.array([0.2, 0.0, 0.6]), head_yaw=np.array([0.0, 10.0, -5.0])
    )
    back = b.from_motion(calib, b.to_motion(calib, p))
    _assert_fields(back, p, {"happy": 0.02, "jaw_open": 0.03, "head_yaw": 1e-3})
    with pytest.raises(ValueError, match="jaw_open"):
        LivePortraitBridge(models.stitching_retargeting_module, {"jaw_open": basis["happy"]})
    with pytest.raises(ValueError, match="non-zero"):
        expression_basis(first, {"happy": (pick, 0.0)})


def test_neural_renderer_satisfies_face_renderer() -> None:
    pytest.importorskip("mediapipe", reason="needs mediapipe==0.10.21")
    skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image for the astronaut photo")
    from pyavatar.render.base import FaceRenderer
    from pyavatar.render.liveportrait.face_renderer import NeuralFaceRenderer

    torch.set_num_threads(2)
    models = LivePortraitModels(LivePortraitConfig.from_dict(TINY_LP_CONFIG)).randomize(seed=2)
    renderer = NeuralFaceRenderer(models, batch=2, kernel_backend="cpp")
    assert isinstance(renderer, FaceRenderer) and renderer.name == "neural"
    image = skimage_data.astronaut()
    prepared = renderer.prepare(image)
    assert 0.1 < prepared.bridge.eye_ratio[0] < 0.6 and prepared.bridge.lip_ratio > 0  # she smiles with open lips
    params = FaceParams.from_fields(jaw_open=np.array([0.0, 1.0]), head_yaw=np.array([0.0, 10.0]))
    frames = renderer.render_params(prepared, params)
    assert frames.shape == (2, 512, 512, 3) and frames.dtype == np.uint8
    assert np.abs(frames[1].astype(int) - frames[0]).sum() > 0
    # far from the face the original image is kept
    np.testing.assert_array_equal(frames[:, 450:, :40], np.broadcast_to(image[450:, :40], (2, 62, 40, 3)))
