"""Motion sources behind the registry: JoyVASA streaming equals the offline pipeline; every control on every
source is honoured (moves its parameter the right way) or refused naming the source; weights errors early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.face.params import NAMES
from pyavatar.motion.diffusion import MotionModelConfig, random_model
from pyavatar.motion.joyvasa import compose_keypoints, ema_smooth, generate, load_joyvasa, load_template, pack
from pyavatar.motion.registry import (
    CONTROLS,
    MotionSourceInfo,
    UnsupportedControl,
    make_motion_source,
    motion_source_names,
    register_motion_source,
)
from pyavatar.motion.sources.dsp import DspMotionSource
from pyavatar.packets import AudioChunk, MotionFrame
from tests.motion.fixture_models import joyvasa_files, speech

RATE = 16_000
IDX = {n: i for i, n in enumerate(NAMES)}


@pytest.fixture(scope="module")
def jv(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    pt, hub, tpl = joyvasa_files(fixtures_dir, tmp_path_factory.mktemp("joyvasa"))
    return load_joyvasa(pt, hub), load_template(tpl)


@pytest.fixture(scope="module")
def portrait(fixtures_dir: Path):
    """The JoyVASA binding on the fixture-sized LivePortrait models (demo portrait, fixed crop)."""
    from PIL import Image

    from pyavatar.assets import DEMO_PORTRAIT
    from pyavatar.render.liveportrait.config import LivePortraitConfig
    from pyavatar.render.liveportrait.face_renderer import NeuralFaceRenderer
    from pyavatar.render.liveportrait.weights import load_liveportrait
    from pyavatar.sdk.keypoints import NeuralKeypointPortrait

    lp = fixtures_dir / "liveportrait"
    config = LivePortraitConfig.from_json(lp / "config_reduced.json")
    renderer = NeuralFaceRenderer(load_liveportrait(lp / "weights", config))
    image = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
    h, w = image.shape[:2]
    return NeuralKeypointPortrait(renderer, renderer.prepare(image, crop=(0.3 * w, 0.2 * h, 0.4 * w, 0.4 * h)))


def _chunks(audio: np.ndarray, seed: int = 0) -> list[AudioChunk]:
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(audio):
        n = int(rng.integers(100, 9000))
        out.append(AudioChunk(i * 1_000_000_000 // RATE, RATE, audio[i : i + n]))
        i += n
    return out


def _stream(source, audio: np.ndarray, live: bool = False) -> list[MotionFrame]:
    frames = [f for c in _chunks(audio) for f in source.process(c, live)]
    return frames + source.flush()


# ------------------------------------------------------------------------------------------------ registry


def test_registry_lists_sources_and_resolves_only_registered_names() -> None:
    assert {"dsp", "diffusion", "joyvasa"} <= set(motion_source_names())
    for bad in ("os:system", "pyavatar.motion.sources.dsp:DspMotionSource", ""):
        with pytest.raises(ValueError, match="unknown motion source"):
            make_motion_source(bad or "x y", fps=30.0)
    with pytest.raises(ValueError, match="'dsp' does not take"):
        make_motion_source("dsp", fps=30.0, weights="x.pt")
    with pytest.raises(ValueError, match="needs the neural renderer"):
        make_motion_source("joyvasa", fps=25.0, weights="x.pt", template="t.pkl")


def test_a_registered_source_plugs_into_a_session() -> None:
    """A new source (e.g. a learned lip model in the dsp slot) needs only a registration."""
    from pyavatar.sdk import Avatar

    class SlowLips(DspMotionSource):
        name = "slow_lips"
        controls = frozenset({"lip_scale", "mute"})

    register_motion_source(
        "slow_lips", MotionSourceInfo(lambda **kw: SlowLips(**kw), "test source", frozenset({"lip_scale", "mute"}))
    )
    image = np.full((96, 96, 3), 128, np.uint8)
    avatar = Avatar.from_image(image, renderer="probe")
    session = avatar.session(fps=25, motion="slow_lips")
    frames = session.frames([AudioChunk(0, RATE, speech(1.0))])
    assert len(list(frames)) == 25 and session.motion.name == "slow_lips"
    with pytest.raises(UnsupportedControl, match="'slow_lips' cannot honour the gaze control"):
        session.set_gaze(10.0, 0.0)


# ------------------------------------------------------------------------------------------------ joyvasa


@pytest.mark.parametrize("live", [False, True], ids=["offline", "worker"])
def test_joyvasa_stream_equals_offline_generate_and_postprocessing(jv, portrait, live: bool) -> None:
    model, template = jv
    audio = speech(8.5, seed=1)  # the last window padded
    norm = generate(model, torch.from_numpy(audio), generator=torch.Generator().manual_seed(7))
    raw = ema_smooth(template.denormalize(norm))
    want_kp, want_xd = pack(raw)[2:], compose_keypoints(raw, portrait.source)[2:]  # frames 0-1: leading pad

    source = make_motion_source("joyvasa", fps=25.0, seed=7, portrait=portrait, model=model, template=template)
    source.max_backlog_s = None  # the test pushes audio faster than real time; keep all of it
    try:
        frames = _stream(source, audio, live)
    finally:
        source.close()
    kp = np.stack([f.keypoints for f in frames])
    assert kp.shape == want_kp.shape
    np.testing.assert_allclose(kp, want_kp, atol=1e-5)
    np.testing.assert_allclose(portrait.keypoints(kp, frames[0].keypoints_ref), want_xd, atol=1e-5)
    assert [f.index for f in frames] == list(range(len(frames))) and frames[0].pts_ns == 0
    params = np.stack([f.params for f in frames])
    assert params.shape == (len(frames), len(NAMES)) and np.isfinite(params).all()
    stats = source.stats()
    n = model.cfg.n_motions  # frames per window, from the fixture checkpoint
    assert stats["windows"] == -(-len(norm) // n) and stats["latency_ms"] == 1000 * n / model.cfg.fps
    assert stats["window_ms"]["p50"] > 0


def test_live_worker_drops_audio_it_cannot_keep_up_with(jv, portrait) -> None:
    model, template = jv
    source = make_motion_source("joyvasa", fps=25.0, seed=7, portrait=portrait, model=model, template=template)
    try:
        frames = _stream(source, speech(8.5, seed=1), live=True)  # 8.5 s pushed at once: far behind real time
    finally:
        source.close()
    stats = source.stats()
    assert stats["dropped_chunks"] > 0 and len(frames) < 213


def test_joyvasa_weights_errors_name_file_and_key(jv, portrait, tmp_path: Path) -> None:
    model, template = jv
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        make_motion_source("joyvasa", fps=25.0, portrait=portrait, weights=tmp_path / "missing.pt", template="t.pkl")
    with pytest.raises(ValueError, match="needs the motion template"):
        make_motion_source("joyvasa", fps=25.0, portrait=portrait, model=model)
    with pytest.raises(ValueError, match="--steps 5 is for the diffusion source"):
        make_motion_source("joyvasa", fps=25.0, portrait=portrait, model=model, template=template, steps=5)


# ------------------------------------------------------------------------------------------------ controls

SOURCES = ("dsp", "diffusion", pytest.param("joyvasa", marks=pytest.mark.slow))  # joyvasa: 3 x 2 windows per case
EVENTS = {
    "emotion": {"name": "happy", "intensity": 1.0, "upper": None},
    "intensity": {"intensity": 0.2},
    "lip_scale": {"scale": 2.0},
    "gaze": {"yaw": 20.0, "pitch": 10.0},
    "mute": {"muted": True},
    "head_amplitude": {"amplitude": 0.0},
    "head_pose": {"pitch": 10.0, "yaw": -8.0, "roll": 0.0},
}


@pytest.fixture(scope="module")
def diffusion_model():
    return random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=1), seed=3)


def _source(name: str, jv, portrait, diffusion_model):
    if name == "dsp":
        return make_motion_source("dsp", fps=25.0, seed=1)
    if name == "diffusion":
        return make_motion_source("diffusion", fps=25.0, seed=1, model=diffusion_model)
    return make_motion_source("joyvasa", fps=25.0, seed=1, portrait=portrait, model=jv[0], template=jv[1])


def _run(source, audio: np.ndarray, control: tuple[str, dict] | None = None) -> list[MotionFrame]:
    if control is not None:
        source.apply_control(*control)
    return _stream(source, audio)


def _p(frames: list[MotionFrame], field: str) -> np.ndarray:
    return np.array([f.params[IDX[field]] for f in frames])


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("name", SOURCES)
def test_every_control_is_honoured_or_refused_naming_the_source(
    name: str, control: str, jv, portrait, diffusion_model
) -> None:
    source = _source(name, jv, portrait, diffusion_model)
    values = EVENTS[control]
    if control not in source.controls:
        with pytest.raises(ValueError, match=f"motion source '{name}' cannot honour the {control} control"):
            source.check_control(control, values)
        with pytest.raises(ValueError, match=f"'{name}'"):
            source.apply_control(control, values)
        return
    audio = speech(4.2 if name == "joyvasa" else 2.0, seed=2)
    base = _run(source, audio)
    ctrl = _run(_source(name, jv, portrait, diffusion_model), audio, (control, values))
    assert len(base) == len(ctrl)
    if control == "mute" and name != "dsp":  # the model hears silence
        silent = _run(_source(name, jv, portrait, diffusion_model), np.zeros_like(audio))
        key = "keypoints" if name == "joyvasa" else "params"
        got, want = (np.stack([getattr(f, key) for f in fs]) for fs in (ctrl, silent))
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert np.abs(got - np.stack([getattr(f, key) for f in base])).max() > 1e-4
    elif name == "joyvasa":
        _check_keypoints(control, base, ctrl, jv[1])
    else:
        _check_params(name, control, base, ctrl, source)


def _check_params(name: str, control: str, base: list[MotionFrame], ctrl: list[MotionFrame], source) -> None:
    if control == "emotion":
        if name == "dsp":
            assert _p(ctrl, "smile_left").mean() > _p(base, "smile_left").mean() + 0.05
        else:  # a conditioning input of the model: the generated motion changes
            assert np.abs(np.stack([f.params for f in ctrl]) - np.stack([f.params for f in base])).max() > 1e-4
        assert ctrl[-1].emotion == "happy"
    elif control == "intensity":
        assert ctrl[-1].intensity == pytest.approx(0.2)
    elif control == "lip_scale":
        assert np.abs(_p(ctrl, "jaw_open")).mean() > np.abs(_p(base, "jaw_open")).mean()
    elif control == "gaze":
        assert np.allclose(_p(ctrl, "gaze_yaw"), 20.0) and np.allclose(_p(ctrl, "gaze_pitch"), 10.0)
    elif control == "mute":
        assert _p(ctrl, "jaw_open").max() < 0.05 < _p(base, "jaw_open").max()
    elif control == "head_amplitude":
        assert _p(base, "head_yaw").std() > 0 and np.ptp(_p(ctrl, "head_yaw")) < 1e-3
    elif control == "head_pose":
        if name == "dsp":
            assert _p(ctrl, "head_pitch").mean() == pytest.approx(_p(base, "head_pitch").mean() + 10.0, abs=1e-3)
        else:  # the reference pose conditions the sampler and centres the amplitude
            assert np.abs(np.stack([f.params for f in ctrl]) - np.stack([f.params for f in base])).max() > 1e-4


def _check_keypoints(control: str, base: list[MotionFrame], ctrl: list[MotionFrame], template) -> None:
    kb, kc = np.stack([f.keypoints for f in base]), np.stack([f.keypoints for f in ctrl])
    lips = [3 * k + c for k in (6, 12, 14, 17, 19, 20) for c in range(3)]
    if control == "lip_scale":
        mean = template.mean_exp[lips]
        np.testing.assert_allclose(kc[:, lips] - mean, 2.0 * (kb[:, lips] - mean), atol=1e-5)
    elif control == "gaze":
        assert np.all(kc[:, 3 * 11] > kb[:, 3 * 11]) and np.all(kc[:, 3 * 11 + 1] < kb[:, 3 * 11 + 1])
    elif control == "head_amplitude":
        assert np.ptp(kb[:, 68]) > 0 and np.ptp(kc[:, 67:70], axis=0).max() < 1e-4
    elif control == "head_pose":
        np.testing.assert_allclose(
            kc[:, 67:70] - kb[:, 67:70], np.broadcast_to([10.0, -8.0, 0.0], kb[:, 67:70].shape), atol=1e-4
        )
    else:
        raise AssertionError(f"no check for {control}")


@pytest.mark.parametrize(("threads", "inside"), [("default", 1), (None, 2), (3, 3)])
def test_diffusion_windows_run_on_their_own_torch_thread_count(diffusion_model, threads, inside) -> None:
    """Live, each window runs on ``threads`` torch intra-op threads (1 by default, None: torch's count); the
    count is restored after every window, and the C++ kernels' own count (the classical renderer's rasterizer)
    is never touched."""
    from pyavatar._native import core
    from pyavatar.motion.sources.diffusion import from_options

    before_torch, before_core = torch.get_num_threads(), core().get_num_threads()
    torch.set_num_threads(2)
    core().set_num_threads(2)
    try:
        options = {} if threads == "default" else {"threads": threads}
        source = from_options(fps=25.0, seed=1, model=diffusion_model, **options)
        seen: list[int] = []
        push = source.engine.gen.push

        def counting_push(chunk):  # noqa: ANN001, ANN202 - wraps the generator's push
            seen.append(torch.get_num_threads())
            return push(chunk)

        source.engine.gen.push = counting_push
        audio = speech(0.6)
        chunks = [AudioChunk(i * 10_000_000, RATE, audio[i * 160 : (i + 1) * 160]) for i in range(len(audio) // 160)]
        frames = [f for c in chunks for f in source.process(c, True)] + source.flush()
        source.close()
        assert len(frames) >= 10 and seen and set(seen) == {inside}
        assert torch.get_num_threads() == 2 and core().get_num_threads() == 2
    finally:
        torch.set_num_threads(before_torch)
        core().set_num_threads(before_core)


def test_diffusion_refuses_a_bad_thread_count(diffusion_model) -> None:
    from pyavatar.motion.sources.diffusion import from_options

    with pytest.raises(ValueError, match="threads must be >= 1"):
        from_options(fps=25.0, seed=1, model=diffusion_model, threads=0)
