"""Controls of the streaming diffusion generator move the output (seeded random models)."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.face.params import NAMES
from pyavatar.motion.diffusion import (
    KEYPOINTS,
    Guidance,
    MotionControls,
    MotionModelConfig,
    StreamConfig,
    StreamingMotionGenerator,
    emotion_vector,
    guidance_plan,
    random_model,
    reference_expression,
)
from pyavatar.motion.diffusion.controls import LoudnessTracker
from pyavatar.packets import AudioChunk

SR = 16_000
CFG = StreamConfig(window=30, new_frames=10, lookahead=10, steps=2, smoothing="none")
LIPS, UPPER = list(KEYPOINTS.lips), list(KEYPOINTS.upper)
ANGLES = list(KEYPOINTS.angles)


@pytest.fixture(scope="module")
def model():
    return random_model(MotionModelConfig(d_model=32, heads=2, blocks=1), seed=11)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    t = np.arange(2 * SR) / SR
    x = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 8)) * (0.05 + 0.5 * (np.sin(2 * np.pi * 1.7 * t) > 0))
    return (0.2 * x).astype(np.float32)


def run(model, audio: np.ndarray, cfg: StreamConfig = CFG, **controls) -> np.ndarray:
    gen = StreamingMotionGenerator(model, cfg, MotionControls(**controls))
    parts = [gen.push(AudioChunk(0, SR, audio)), gen.flush()]
    return np.concatenate([p.values for p in parts if p is not None])


def moved(a: np.ndarray, b: np.ndarray, cols: list[int] | slice = slice(None)) -> float:
    return float(np.abs(a[:, cols] - b[:, cols]).mean())


def test_emotion_label_vector_and_intensity(model, audio) -> None:
    neutral = run(model, audio)
    happy = run(model, audio, emotion="happy")
    assert moved(happy, neutral) > 1e-2
    np.testing.assert_array_equal(run(model, audio, emotion=[1, 0, 0, 0, 0]), happy)
    np.testing.assert_array_equal(run(model, audio, emotion="happy", emotion_intensity=0.0), neutral)
    half = run(model, audio, emotion="happy", emotion_intensity=0.5)
    assert 0 < moved(half, neutral) < moved(happy, neutral) * 1.5
    assert moved(run(model, audio, emotion="sad"), happy) > 1e-2


def test_region_composition(model, audio) -> None:
    """Lips keep the mouth emotion, eyes/brows take the upper one."""
    happy, sad = run(model, audio, emotion="happy"), run(model, audio, emotion="sad")
    mixed = run(model, audio, emotion="happy", upper_emotion="sad")
    assert moved(mixed, happy, LIPS) < moved(mixed, sad, LIPS)
    assert moved(mixed, sad, UPPER) < moved(mixed, happy, UPPER)
    branches, w = guidance_plan(KEYPOINTS, Guidance(), split_regions=True, pose_given=False)
    upper_row = next(i for i, b in enumerate(branches) if b.emotion == "upper")
    lips_row = next(i for i, b in enumerate(branches) if b.emotion == "lips")
    assert np.all(w[upper_row, LIPS] == 0) and np.all(w[lips_row, UPPER] == 0)


def test_emotion_from_reference_expression(model, audio) -> None:
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(8, 21, 3)).astype(np.float32)
    rest = model.rest.numpy()
    mean_ref = reference_expression(clip, KEYPOINTS, rest)
    np.testing.assert_allclose(mean_ref[:63], clip.reshape(8, 63).mean(0), rtol=1e-6)
    np.testing.assert_array_equal(mean_ref[63:], rest[63:])
    base = run(model, audio)
    from_image = run(model, audio, emotion_reference=clip[0])
    from_clip = run(model, audio, emotion_reference=clip)
    assert moved(from_image, base) > 1e-2 and moved(from_clip, from_image) > 1e-3
    np.testing.assert_array_equal(run(model, audio, emotion_reference=clip.reshape(8, 63)), from_clip)
    with pytest.raises(ValueError, match="63 / 21x3"):
        run(model, audio, emotion_reference=np.zeros(5))


def test_lip_scale_is_exact_on_lip_keypoints(model, audio) -> None:
    base, wide = run(model, audio), run(model, audio, lip_scale=2.0)
    rest = model.rest.numpy()
    np.testing.assert_allclose(wide[:, LIPS] - rest[LIPS], 2 * (base[:, LIPS] - rest[LIPS]), rtol=1e-5, atol=1e-6)
    others = [i for i in range(70) if i not in LIPS]
    np.testing.assert_array_equal(wide[:, others], base[:, others])


def test_loudness_adaptive_lip_scale(model, audio) -> None:
    tracker = LoudnessTracker(25, tau=1.0)
    db = np.r_[np.full(50, -30.0), np.full(10, -18.0), np.full(10, -42.0), np.full(5, -80.0)]
    f = tracker.factors(db, gain=1.0)
    assert np.all(f[50:60] > 1.1) and np.all(f[60:70] < 0.9) and np.all(f[70:] == 1.0)
    base, adaptive = run(model, audio), run(model, audio, lip_loudness=1.5)
    assert moved(adaptive, base, LIPS) > 1e-3
    others = [i for i in range(70) if i not in LIPS]
    np.testing.assert_array_equal(adaptive[:, others], base[:, others])


def test_head_pose_amplitude_and_reference_pose(model, audio) -> None:
    base = run(model, audio)
    calm = run(model, audio, pose_amplitude=0.5)
    np.testing.assert_allclose(calm[:, ANGLES], 0.5 * base[:, ANGLES], rtol=1e-5, atol=1e-5)  # rest angles are 0
    ref = (5.0, -10.0, 2.0)
    posed = run(model, audio, reference_pose=ref)
    assert moved(posed, base) > 1e-2
    calm_posed = run(model, audio, reference_pose=ref, pose_amplitude=0.0)
    np.testing.assert_allclose(calm_posed[:, ANGLES], np.broadcast_to(ref, (len(calm_posed), 3)), atol=1e-5)
    guided = run(model, audio, reference_pose=ref, guidance=Guidance(pose=2.0))
    pose_dims = list(KEYPOINTS.pose)
    assert moved(guided, posed, pose_dims) > 1e-3
    branches, w = guidance_plan(KEYPOINTS, Guidance(pose=2.0), split_regions=False, pose_given=True)
    no_pose = next(i for i, b in enumerate(branches) if not b.pose)
    assert np.all(w[no_pose, [i for i in range(70) if i not in pose_dims]] == 0)


def test_gaze(model, audio) -> None:
    base = run(model, audio)
    gazing = run(model, audio, gaze=(20.0, -10.0))
    assert moved(gazing, base, [33, 34, 45, 46]) > 1e-3
    fp = random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=1), seed=12)
    out = run(fp, audio, gaze=(20.0, -10.0))
    cols = [NAMES.index("gaze_yaw"), NAMES.index("gaze_pitch")]
    np.testing.assert_allclose(out[:, cols], np.broadcast_to((20.0, -10.0), (len(out), 2)))


def test_seed_gives_diversity(model, audio) -> None:
    a, b = run(model, audio, seed=1), run(model, audio, seed=2)
    np.testing.assert_array_equal(a, run(model, audio, seed=1))
    assert moved(a, b) > 1e-2


@pytest.mark.parametrize(
    "change",
    [
        {"emotion": "surprised"},
        {"lip_scale": 0.3},
        {"seed": 9},
        {"reference_pose": (0.0, 20.0, 0.0)},
        {"gaze": (-15.0, 5.0)},
    ],
)
def test_live_changes_apply_from_the_next_frame(model, audio, change) -> None:
    def stream(apply: bool) -> tuple[np.ndarray, int]:
        gen = StreamingMotionGenerator(model, CFG)
        out, before = [], 0
        for i in range(0, len(audio), 1600):
            if apply and i == 16000:
                gen.set(**change)
                before = sum(len(o) for o in out)
            r = gen.push(AudioChunk(i * 62_500, SR, audio[i : i + 1600]))
            if r is not None:
                out.append(r.values)
        return np.concatenate(out + [gen.flush().values]), before

    base, _ = stream(False)
    changed, n_before = stream(True)
    assert n_before > 0
    np.testing.assert_array_equal(changed[:n_before], base[:n_before])
    assert np.abs(changed[n_before] - base[n_before]).max() > 1e-4


def test_invalid_controls_are_named(model) -> None:
    gen = StreamingMotionGenerator(model, CFG)
    for bad, match in (
        ({"emotion": "furious"}, "unknown emotion 'furious'"),
        ({"lip_scale": -1.0}, "lip_scale"),
        ({"gaze": (90.0, 0.0)}, "gaze"),
        ({"reference_pose": (1.0, 2.0)}, "reference_pose"),
        ({"emotion_intensity": 5.0}, "intensity"),
        ({"volume": 1}, "unknown control"),
        ({"seed": -3}, "seed"),
    ):
        with pytest.raises(ValueError, match=match):
            gen.set(**bad)
    assert emotion_vector("neutral").sum() == 0
