"""Learned motion from the command line and the SDK: ``--motion joyvasa`` with the neural renderer (and VMC from
the same session through the bridge), ``--motion diffusion`` from a save_motion_model checkpoint with the
classical renderer, offline and live, and weights errors before any audio."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch

from pyavatar.assets import DEMO_PORTRAIT
from pyavatar.cli import main
from pyavatar.motion.diffusion import MotionModelConfig, random_model, save_motion_model
from tests.motion.fixture_models import joyvasa_files, speech

av = pytest.importorskip("av")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def diffusion_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("diffusion") / "motion.safetensors"
    save_motion_model(random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=1), seed=5), path)
    return path


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, speech(1.2, seed=4), 16_000)
    return path


def test_render_motion_diffusion_with_the_classical_renderer(diffusion_file: Path, wav: Path, tmp_path: Path):
    out = tmp_path / "d.mp4"
    rc = main(
        [
            "render",
            str(DEMO_PORTRAIT),
            str(wav),
            "-o",
            str(out),
            "--motion",
            "diffusion",
            "--motion-weights",
            str(diffusion_file),
            "--steps",
            "3",
            "--cfg",
            "1.5",
            "--seed",
            "2",
            "--head-amplitude",
            "0.5",
            "--gaze",
            "10,-5",
            "--fps",
            "25",
            "--no-progress",
        ]
    )
    assert rc == 0 and _frames(out) == 30  # 1.2 s at 25 fps


def _render_diffusion(wav: Path, weights: Path, out: Path) -> int:
    """``pyavatar render`` of the demo portrait with ``--motion diffusion --motion-weights WEIGHTS``."""
    args = ["render", str(DEMO_PORTRAIT), str(wav), "-o", str(out), "--motion", "diffusion"]
    return main([*args, "--motion-weights", str(weights), "--fps", "25", "--no-progress"])


def test_mismatched_diffusion_weights_fail_before_any_audio(
    diffusion_file: Path, wav: Path, tmp_path: Path, capsys
) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(diffusion_file)
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 2)
    state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
    from safetensors import safe_open

    with safe_open(str(diffusion_file), framework="pt") as f:
        meta = f.metadata()
    bad = tmp_path / "bad.safetensors"
    save_file(state, bad, metadata=meta)
    from pyavatar.sdk import Avatar

    with pytest.raises(ValueError, match="has shape"):  # the session is built before any audio arrives
        Avatar.from_image(DEMO_PORTRAIT, renderer="probe").session(
            fps=25, motion="diffusion", motion_options={"weights": bad}
        )
    rc = _render_diffusion(wav, bad, tmp_path / "x.mp4")
    err = capsys.readouterr().err
    assert rc == 1 and str(bad) in err and repr(key) in err and "has shape" in err, err
    assert not (tmp_path / "x.mp4").exists()
    state[key] = torch.full_like(state[key][:-1], float("nan"))
    save_file(state, bad, metadata=meta)
    rc = _render_diffusion(wav, bad, tmp_path / "x.mp4")
    err = capsys.readouterr().err
    assert rc == 1 and "non-finite" in err and str(bad) in err and key in err, err


def test_unknown_motion_and_refused_controls_are_one_line_errors(wav: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["render", str(DEMO_PORTRAIT), str(wav), "-o", str(tmp_path / "x.mp4"), "--motion", "os:system"])
    assert "invalid choice" in capsys.readouterr().err
    rc = main(["render", str(DEMO_PORTRAIT), str(wav), "-o", str(tmp_path / "x.mp4"), "--gaze", "10"])
    assert rc == 1 and "--gaze: expected YAW,PITCH" in capsys.readouterr().err


def test_live_diffusion_from_a_file_reports_the_same_stats_as_dsp(diffusion_file: Path, wav: Path) -> None:
    from pyavatar.sdk import Avatar

    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe")
    stats = {}
    for motion, options in (("dsp", {}), ("diffusion", {"weights": diffusion_file, "steps": 2})):
        with avatar.session(fps=25, motion=motion, motion_options=options) as s:
            s.start(file=wav)
            assert s.wait(30.0)
            stats[motion] = s.stats()
    dsp, diff = stats["dsp"], stats["diffusion"]
    assert set(dsp) == set(diff)
    assert diff["frames_out"] > 20 and diff["motion"]["windows"] > 10 and diff["motion"]["window_ms"]["p95"] > 0
    from pyavatar.audio.features import LOOKAHEAD_S
    from pyavatar.motion.sources.diffusion import LIVE_STREAM

    # audio a window needs past its oldest frame's start: its new frames (no model look-ahead) + the features'
    assert LIVE_STREAM.lookahead == 0
    assert diff["motion"]["latency_ms"] == pytest.approx((LIVE_STREAM.new_frames / 25 + LOOKAHEAD_S) * 1e3)
    assert dsp["motion"]["source"] == "dsp" and "window_ms" not in dsp["motion"]


@pytest.fixture(scope="module")
def joyvasa(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    pt, hub, tpl = joyvasa_files(fixtures_dir, tmp_path_factory.mktemp("jv"))
    return pt, hub, tpl, fixtures_dir / "liveportrait"


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "short.wav"
    sf.write(path, speech(0.2, seed=6), 16_000)  # 5 frames + JoyVASA's trailing pad frame: 6 neural frames
    return path


@pytest.mark.slow
def test_render_motion_joyvasa_with_the_neural_renderer(joyvasa, short_wav: Path, tmp_path: Path) -> None:
    pt, hub, tpl, lp = joyvasa
    out = tmp_path / "jv.mp4"
    rc = main(
        [
            "render",
            str(DEMO_PORTRAIT),
            str(short_wav),
            "-o",
            str(out),
            "--motion",
            "joyvasa",
            "--motion-weights",
            str(pt),
            "--motion-template",
            str(tpl),
            "--hubert-dir",
            str(hub),
            "--weights",
            str(lp / "weights"),
            "--weights-config",
            str(lp / "config_reduced.json"),
            "--fps",
            "25",
            "--no-progress",
        ]
    )
    assert rc == 0 and _frames(out) == 6


@pytest.mark.slow
def test_joyvasa_session_drives_vmc_through_the_bridge(joyvasa, short_wav: Path, tmp_path: Path) -> None:
    pytest.importorskip("pythonosc")
    from pyavatar.face.mappings import to_vrm0
    from pyavatar.face.params import FaceParams
    from pyavatar.outputs.vmc import VmcSender
    from pyavatar.sdk import Avatar
    from tests.outputs.osc_receiver import Receiver

    pt, hub, tpl, lp = joyvasa
    avatar = Avatar.from_image(
        DEMO_PORTRAIT, renderer="neural", weights=lp / "weights", config=lp / "config_reduced.json"
    )
    motion: list = []
    with Receiver() as rx:
        session = avatar.session(
            fps=25,
            motion="joyvasa",
            outputs=[VmcSender("127.0.0.1", rx.port, rate=60.0)],
            motion_options={"weights": pt, "template": tpl, "hubert_dir": hub},
        )
        session.on_motion(motion.append)
        frames = list(session.frames(short_wav))
        session.stop()
    assert len(frames) == len(motion) == 6
    assert all(m.keypoints is not None for m in motion)
    last = to_vrm0(FaceParams(motion[-1].params[None]))
    sent = {args[0]: args[1] for _, args in rx.of("/VMC/Ext/Blend/Val")}
    assert sent and all(sent[name] == pytest.approx(float(v[0]), abs=1e-5) for name, v in last.items() if name in sent)
    assert len(rx.of("/VMC/Ext/Bone/Pos")) > 0


def test_osc_head_controls_reach_the_source_and_refusals_name_it(wav: Path) -> None:
    """Real UDP: /pyavatar/set/head_amplitude and head_pose apply; a control the source lacks is refused."""
    pytest.importorskip("pythonosc")
    import time

    from pythonosc.udp_client import SimpleUDPClient

    from pyavatar.motion.registry import MotionSourceInfo, register_motion_source
    from pyavatar.motion.sources.dsp import DspMotionSource
    from pyavatar.sdk import Avatar

    class NoGaze(DspMotionSource):
        name = "no_gaze"
        controls = frozenset({"head_amplitude", "head_pose"})

    register_motion_source("no_gaze", MotionSourceInfo(lambda **kw: NoGaze(**kw), "test source", NoGaze.controls))
    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe")
    with avatar.session(fps=25, motion="no_gaze") as s:
        s.start(file=wav, control=0)
        client = SimpleUDPClient(*s.control_address)
        client.send_message("/pyavatar/set/head_amplitude", [0.25])
        client.send_message("/pyavatar/set/head_pose", [5.0, -5.0, 0.0])
        client.send_message("/pyavatar/set/gaze", [10.0, 0.0])
        deadline = time.monotonic() + 10
        while s.stats()["control"]["received"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        s.wait(30.0)
        control = s.stats()["control"]
        refused = s._control.last_error
        source = s.motion.source
    assert control["applied"] == 2 and control["malformed"] == 1
    assert "motion source 'no_gaze' cannot honour the gaze control" in refused
    assert source.head_amplitude == 0.25 and source.head_pose == (5.0, -5.0, 0.0)
