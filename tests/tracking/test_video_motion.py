"""The ``video`` and ``hybrid`` motion sources: tracked motion on the output grid, controls, hybrid mixing,
and ``pyavatar render IMAGE --driving VIDEO`` end to end (a video recorded by our classical renderer from
known parameters drives a render whose own tracked motion follows the known one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pyavatar.face.params import NAMES
from pyavatar.motion.registry import CONTROLS, UnsupportedControl, make_motion_source
from pyavatar.motion.sources.dsp import DspMotionSource
from pyavatar.packets import AudioChunk, MotionFrame
from pyavatar.tracking.tracker import TrackerSettings
from tests.motion.fixture_models import speech
from tests.tracking.conftest import FPS, LEAD

RATE = 16_000
IDX = {n: i for i, n in enumerate(NAMES)}
QUICK = TrackerSettings(calibrate_s=LEAD / FPS)


def _run(source, audio: np.ndarray, control: tuple[str, dict] | None = None) -> list[MotionFrame]:
    if control is not None:
        source.apply_control(*control)
    rng = np.random.default_rng(0)
    out, i = [], 0
    while i < len(audio):
        n = int(rng.integers(200, 3000))
        out += source.process(AudioChunk(i * 1_000_000_000 // RATE, RATE, audio[i : i + n]), False)
        i += n
    out += source.flush()
    getattr(source, "close", lambda: None)()
    return out


def _field(frames: list[MotionFrame], name: str) -> np.ndarray:
    return np.array([f.params[IDX[name]] for f in frames])


def _known_at(known, name: str, times: np.ndarray) -> np.ndarray:
    return np.interp(times, np.arange(len(known)) / FPS, known.values[:, IDX[name]])


def _frames(video: np.ndarray) -> list[tuple[float, np.ndarray]]:
    return [(i / FPS, f) for i, f in enumerate(video)]


def test_video_source_tracks_every_frame_onto_the_output_grid(rendered) -> None:
    known, video = rendered("astronaut")
    source = make_motion_source("video", fps=25.0, frames=_frames(video), tracker=QUICK)
    frames = _run(source, np.zeros(round(len(video) / FPS * RATE), np.float32))
    assert [f.index for f in frames] == list(range(int(np.ceil(len(video) / FPS * 25))))  # as dsp: ceil
    assert source.stats()["video_frames_tracked"] == len(video)
    times = np.array([f.index / 25.0 for f in frames])
    for name in ("head_yaw", "head_pitch", "jaw_open", "blink_left"):
        got, want = _field(frames, name), _known_at(known, name, times)
        assert np.corrcoef(got, want)[0, 1] >= 0.9, name
    assert np.abs(_field(frames, "head_yaw") - _known_at(known, "head_yaw", times)).mean() < 3.0


CONTROL_VALUES = {
    "emotion": {"name": "happy", "intensity": 1.0, "upper": None},
    "intensity": {"intensity": 0.2},
    "lip_scale": {"scale": 0.5},
    "gaze": {"yaw": 20.0, "pitch": 10.0},
    "mute": {"muted": True},
    "head_amplitude": {"amplitude": 0.0},
    "head_pose": {"pitch": 10.0, "yaw": 0.0, "roll": 0.0},
}


@pytest.mark.parametrize("control", CONTROLS)
def test_video_source_honours_or_refuses_every_control_naming_itself(rendered, control: str) -> None:
    _, video = rendered("astronaut")
    clip = _frames(video[:30])
    audio = np.zeros(RATE, np.float32)
    source = make_motion_source("video", fps=30.0, frames=clip, tracker=QUICK)
    values = CONTROL_VALUES[control]
    if control not in source.controls:
        with pytest.raises(UnsupportedControl, match=f"motion source 'video' cannot honour the {control} control"):
            source.check_control(control, values)
        source.close()
        return
    base = _run(source, audio)
    ctrl = _run(make_motion_source("video", fps=30.0, frames=clip, tracker=QUICK), audio, (control, values))
    assert len(base) == len(ctrl) == 30
    if control == "lip_scale":
        np.testing.assert_allclose(_field(ctrl, "jaw_open"), 0.5 * _field(base, "jaw_open"), atol=1e-5)
    elif control == "mute":
        assert _field(ctrl, "jaw_open").max() == 0.0 < _field(base, "jaw_open").max()
    elif control == "gaze":
        assert np.allclose(_field(ctrl, "gaze_yaw"), 20.0) and np.allclose(_field(ctrl, "gaze_pitch"), 10.0)
    elif control == "head_amplitude":
        assert np.ptp(_field(base, "head_yaw")) > 5.0 and np.ptp(_field(ctrl, "head_yaw")) == 0.0
    elif control == "head_pose":
        np.testing.assert_allclose(_field(ctrl, "head_pitch"), _field(base, "head_pitch") + 10.0, atol=1e-4)


def test_hybrid_takes_the_mouth_from_audio_and_the_head_from_video(rendered) -> None:
    known, video = rendered("astronaut")
    audio = speech(len(video) / FPS, seed=3)
    dsp = _run(DspMotionSource(30.0), audio)
    hybrid = make_motion_source("hybrid", fps=30.0, frames=_frames(video), tracker=QUICK, fallback=False)
    mixed = _run(hybrid, audio)
    assert len(mixed) == len(dsp)
    np.testing.assert_allclose(_field(mixed, "jaw_open"), _field(dsp, "jaw_open"), atol=1e-5)
    times = np.array([f.index / 30.0 for f in mixed])
    assert np.corrcoef(_field(mixed, "head_yaw"), _known_at(known, "head_yaw", times))[0, 1] >= 0.9
    # the mouth's video share set live: the jaw follows the video from the next frame
    source = make_motion_source("hybrid", fps=30.0, frames=_frames(video), tracker=QUICK, fallback=False)
    source.set_region_weight("mouth", 1.0)
    jaw = _field(_run(source, audio), "jaw_open")
    assert np.corrcoef(jaw, _known_at(known, "jaw_open", times))[0, 1] >= 0.9
    with pytest.raises(ValueError, match="unknown face region 'nose'"):
        make_motion_source("hybrid", fps=30.0, frames=[], region_weights={"nose": 1.0})


def test_hybrid_honours_emotion_through_its_audio_side(rendered) -> None:
    _, video = rendered("astronaut")
    clip, audio = _frames(video[:30]), speech(1.0, seed=1)
    base = _run(make_motion_source("hybrid", fps=30.0, frames=clip, tracker=QUICK), audio)
    happy = _run(
        make_motion_source("hybrid", fps=30.0, frames=clip, tracker=QUICK),
        audio,
        ("emotion", CONTROL_VALUES["emotion"]),
    )
    # the emotion weights come from the audio side; smiles and brows follow their regions' (video) weights
    assert happy[-1].emotion == "happy" and _field(happy, "happy").mean() > _field(base, "happy").mean() + 0.5


def test_video_input_errors_name_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one video input"):
        make_motion_source("video", fps=30.0)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        make_motion_source("video", fps=30.0, driving=tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="'video' does not take \\['region_weights'\\]"):
        make_motion_source("video", fps=30.0, frames=[], region_weights={"mouth": 1.0})


@pytest.mark.slow
def test_render_driving_video_follows_the_driving_motion(rendered, tmp_path: Path, capsys) -> None:
    from PIL import Image

    from pyavatar.bench.tracking import portrait_image
    from pyavatar.cli import main
    from pyavatar.tracking import FaceTracker
    from pyavatar.video import iter_video, probe_video, write_video

    known, video = rendered("astronaut")
    clip = write_video(tmp_path / "driving.mp4", video, FPS, audio=speech(len(video) / FPS), sample_rate=RATE)
    portrait = tmp_path / "portrait.png"
    Image.fromarray(portrait_image("grace_hopper")).save(portrait)
    out = tmp_path / "out.mp4"
    code = main(["render", str(portrait), "--driving", str(clip), "-o", str(out), "--fps", "25", "--no-progress"])
    assert code == 0, capsys.readouterr().out
    info = probe_video(out)
    assert info.has_audio and abs(info.frames - len(video) / FPS * 25) <= 2  # AAC pads the audio a little
    output = [rgb for _, rgb in iter_video(out)]
    with FaceTracker() as tracker:  # the output's own motion, tracked back
        tracker.calibrate_frames(output[:5])
        tracked = np.stack([tracker.process(f, i / 25.0).params.values[0] for i, f in enumerate(output)])
    times = np.arange(len(output)) / 25.0
    # two tracking passes (driving video, then the rendered output of another face) compound their errors
    for name, least in (("head_yaw", 0.85), ("jaw_open", 0.8)):
        r = np.corrcoef(tracked[:, IDX[name]], _known_at(known, name, times))[0, 1]
        assert r >= least, (name, r)


@pytest.fixture(scope="module")
def smiling_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference video: the astronaut at rest, then smiling with raised brows (classical renderer)."""
    from pyavatar.bench.tracking import portrait_image, render_sequence
    from pyavatar.face.params import FaceParams
    from pyavatar.video import write_video

    ramp = np.concatenate([np.zeros(12), np.full(24, 0.8)])
    params = FaceParams.from_fields(smile_left=ramp, smile_right=ramp, brow_up_left=ramp, brow_up_right=ramp)
    frames = render_sequence(portrait_image("astronaut"), params, 320)
    return write_video(tmp_path_factory.mktemp("ref") / "smile.mp4", frames, FPS)


def test_emotion_reference_offsets_an_audio_driven_source(smiling_clip: Path, tmp_path: Path) -> None:
    from PIL import Image

    from pyavatar.motion.sources.expression import ExpressionOffset, ReferenceExpression
    from pyavatar.video import iter_video

    ref = ReferenceExpression.from_file(smiling_clip)
    assert ref.values["smile_left"] > 0.2 and ref.values["brow_up_left"] > 0.2
    audio = speech(1.0, seed=4)
    base = _run(DspMotionSource(30.0), audio)
    full = _run(ExpressionOffset(DspMotionSource(30.0), ref), audio)
    half = _run(ExpressionOffset(DspMotionSource(30.0), ref), audio, ("intensity", {"intensity": 0.5}))
    smile = [_field(f, "smile_left").mean() for f in (base, full, half)]
    assert smile[1] == pytest.approx(smile[0] + ref.values["smile_left"], abs=0.02)
    assert smile[2] == pytest.approx(smile[0] + 0.5 * ref.values["smile_left"], abs=0.02)
    no_mouth = ReferenceExpression(ref.values, regions={"expression": 0.0})
    kept = _run(ExpressionOffset(DspMotionSource(30.0), no_mouth), audio)
    np.testing.assert_allclose(_field(kept, "smile_left"), _field(base, "smile_left"), atol=1e-6)
    assert _field(kept, "brow_up_left").mean() > _field(base, "brow_up_left").mean() + 0.2
    # an image reference needs the same face at rest
    frames = [rgb for _, rgb in iter_video(smiling_clip)]
    Image.fromarray(frames[-1]).save(tmp_path / "smile.png")
    Image.fromarray(frames[0]).save(tmp_path / "rest.png")
    with pytest.raises(ValueError, match="needs --emotion-ref-neutral"):
        ReferenceExpression.from_file(tmp_path / "smile.png")
    image_ref = ReferenceExpression.from_file(tmp_path / "smile.png", neutral=tmp_path / "rest.png")
    assert image_ref.values["smile_left"] == pytest.approx(ref.values["smile_left"], abs=0.15)


def test_render_emotion_ref_from_the_command_line(smiling_clip: Path, tmp_path: Path, capsys) -> None:
    import soundfile as sf
    from PIL import Image

    from pyavatar.cli import main

    sf.write(tmp_path / "a.wav", speech(0.4), RATE)
    Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(tmp_path / "p.png")
    args = ["render", str(tmp_path / "p.png"), str(tmp_path / "a.wav"), "--renderer", "probe", "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "out"), "--emotion-ref", str(smiling_clip)]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 12
    Image.open(tmp_path / "p.png").save(tmp_path / "ref.png")
    assert main([*args, "-o", str(tmp_path / "out2"), "--emotion-ref", str(tmp_path / "ref.png")]) == 1
    assert "an image reference needs --emotion-ref-neutral IMAGE" in capsys.readouterr().err


@pytest.mark.slow
def test_video_keypoints_drive_the_neural_renderer(rendered, shared_dir: Path, tmp_path: Path, capsys) -> None:
    """LivePortrait's motion extractor per driving frame (fixture-sized models): keypoint motion relative to
    the first driving frame, stitched, reaches the neural renderer, from the SDK and from ``render --driving``."""
    import torch
    from PIL import Image

    from pyavatar.assets import DEMO_PORTRAIT
    from pyavatar.cli import main
    from pyavatar.render.liveportrait.config import LivePortraitConfig
    from pyavatar.render.liveportrait.face_renderer import NeuralFaceRenderer
    from pyavatar.render.liveportrait.weights import load_liveportrait
    from pyavatar.sdk.keypoints import NeuralKeypointPortrait
    from pyavatar.video import write_video

    lp = shared_dir / "fixtures/liveportrait"
    config = LivePortraitConfig.from_json(lp / "config_reduced.json")
    renderer = NeuralFaceRenderer(load_liveportrait(lp / "weights", config))
    image = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
    h, w = image.shape[:2]
    crop = (0.3 * w, 0.2 * h, 0.4 * w, 0.4 * h)
    binding = NeuralKeypointPortrait(renderer, renderer.prepare(image, crop=crop))
    _, video = rendered("astronaut")
    clip = _frames(video[:20])
    frames = _run(
        make_motion_source("video-keypoints", fps=30.0, portrait=binding, frames=clip, tracker=QUICK),
        np.zeros(int(20 / FPS * RATE), np.float32),
    )
    assert len(frames) == 20 and all(f.keypoints is not None and f.keypoints.shape == (70,) for f in frames)
    ref = frames[0].keypoints_ref
    assert all(np.array_equal(f.keypoints_ref, ref) for f in frames)
    x_d = binding.keypoints(np.stack([f.keypoints for f in frames]), ref)  # as the renderer composes them
    with torch.inference_mode():
        stitched = renderer.neural.renderer.models.stitching_retargeting_module.stitch(
            torch.from_numpy(binding.source.x_s)[None], torch.from_numpy(binding.source.x_s)[None]
        )[0].numpy()
    np.testing.assert_allclose(x_d[0], stitched, atol=1e-5)  # the first driving frame: the portrait, stitched
    assert np.abs(x_d - x_d[:1]).max() > 1e-3  # later frames follow the driving motion
    with pytest.raises(UnsupportedControl, match="'video-keypoints' cannot honour the gaze control"):
        make_motion_source("video-keypoints", fps=30.0, portrait=binding, frames=[]).check_control(
            "gaze", CONTROL_VALUES["gaze"]
        )
    with pytest.raises(ValueError, match="needs the neural renderer"):
        make_motion_source("video-keypoints", fps=30.0, frames=[])
    # end to end on the command line: the neural renderer draws the keypoint motion
    path = write_video(tmp_path / "driving.mp4", video[20:26], FPS, audio=speech(0.2), sample_rate=RATE)
    image_path = tmp_path / "portrait.png"
    Image.fromarray(image).save(image_path)
    out = tmp_path / "frames"
    code = main(
        [
            "render",
            str(image_path),
            "--driving",
            str(path),
            "-o",
            str(out),
            "--motion",
            "video-keypoints",
            "--weights",
            str(lp / "weights"),
            "--weights-config",
            str(lp / "config_reduced.json"),
            "--crop",
            ",".join(f"{v:.0f}" for v in crop),
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().out
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 5
    first, last = (np.asarray(Image.open(p), np.float32) for p in (pngs[0], pngs[-1]))
    assert np.abs(first - last).mean() > 0.0  # the driving motion changes the rendered frames


class _HandFedCamera:
    """A camera whose frames arrive when the test says (no webcam here; capture timing is the test's)."""

    def __init__(self) -> None:
        self.waiting: list = []

    def read(self, timeout: float):  # noqa: ANN201
        return self.poll()

    def poll(self):  # noqa: ANN201
        frame, self.waiting = (self.waiting[-1] if self.waiting else None), []
        return frame

    def close(self) -> None:
        pass


MS = 1_000_000


def _live_camera_source() -> tuple[_HandFedCamera, object, Callable[[int], list[MotionFrame]]]:
    """A hand-fed camera, the live video source on it, and ``chunk(start_ms)``: push 10 ms of audio at that time."""
    camera = _HandFedCamera()
    source = make_motion_source("video", fps=FPS, camera=camera, tracker=QUICK)

    def chunk(start_ms: int) -> list[MotionFrame]:
        return source.process(AudioChunk(start_ms * MS, RATE, np.zeros(RATE // 100, np.float32)), True)

    return camera, source, chunk


def test_live_camera_frame_is_used_on_the_next_chunk_not_at_the_slot_end(rendered) -> None:
    """A camera frame that arrives mid-slot goes out with the next 10 MS chunk (it does not wait up to a frame
    period for its slot to end); a slot that ends without a new camera frame emits nothing."""
    from pyavatar.video.capture import CapturedFrame

    _, video = rendered("astronaut")
    camera, source, chunk = _live_camera_source()

    camera.waiting = [CapturedFrame(video[0], 0, 0)]
    assert [(f.index, f.capture_ns) for f in chunk(0)] == [(0, 0)]  # slot 0 has begun and a frame is there
    assert chunk(10) == [] and chunk(20) == [] and chunk(30) == []  # slot 1 ([33, 67) MS) begun, no frame yet
    camera.waiting = [CapturedFrame(video[1], 1, 41 * MS)]
    assert [(f.index, f.capture_ns) for f in chunk(40)] == [(1, 41 * MS)]  # at once, not at 67 MS
    assert all(chunk(t) == [] for t in range(50, 110, 10))  # slot 2 ends without a frame: nothing (a repeat)
    camera.waiting = [CapturedFrame(video[2], 2, 105 * MS), CapturedFrame(video[3], 3, 108 * MS)]
    assert [(f.index, f.capture_ns) for f in chunk(110)] == [(3, 108 * MS)]  # slot 3, the newest frame
    source.close()


def test_live_camera_frame_fills_the_next_slot_before_it_begins_but_never_two_ahead(rendered) -> None:
    """A camera frame that arrives after its slot was filled goes out with the next chunk as the next slot's
    frame (it does not wait for that slot to begin: camera and output clocks drift, and that wait would come and
    go for seconds); a slot is never filled before the one before it has begun."""
    from pyavatar.video.capture import CapturedFrame

    _, video = rendered("astronaut")
    camera, source, chunk = _live_camera_source()

    camera.waiting = [CapturedFrame(video[0], 0, 1 * MS)]
    assert [(f.index, f.capture_ns) for f in chunk(0)] == [(0, 1 * MS)]  # slot 0 ([0, 33) MS)
    camera.waiting = [CapturedFrame(video[1], 1, 15 * MS)]
    assert [(f.index, f.capture_ns) for f in chunk(10)] == [(1, 15 * MS)]  # slot 1 ([33, 67) MS), at 20 MS
    camera.waiting = [CapturedFrame(video[2], 2, 25 * MS)]
    assert chunk(20) == []  # slot 2 ([67, 100) MS) waits until slot 1 has begun
    assert [(f.index, f.capture_ns) for f in chunk(30)] == [(2, 25 * MS)]  # audio at 40 MS: slot 1 has begun
    source.close()
