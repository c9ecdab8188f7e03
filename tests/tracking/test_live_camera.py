"""``pyavatar live IMAGE --camera 0`` through the video-file-backed capture device (no webcam here: only the
``cv2.VideoCapture`` call is replaced; capture thread, newest-wins, tracking, pacing and VMC are real)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.video import VideoFileDevice, write_video
from tests.outputs.osc_receiver import Receiver
from tests.tracking.conftest import FPS


@pytest.mark.slow
def test_live_camera_drives_the_portrait_and_vmc(rendered, tmp_path: Path, monkeypatch, capsys) -> None:
    import cv2
    from PIL import Image

    from pyavatar.bench.tracking import portrait_image

    known, video = rendered("astronaut")
    clip = write_video(tmp_path / "camera.mp4", video, FPS)
    monkeypatch.setattr(cv2, "VideoCapture", lambda index: VideoFileDevice(clip, realtime=True, loop=True))
    portrait = tmp_path / "portrait.png"
    Image.fromarray(portrait_image("grace_hopper")).save(portrait)
    stats = tmp_path / "stats.json"
    with Receiver() as rx:
        code = main(
            [
                "live",
                str(portrait),
                "--camera",
                "0",
                "--vmc",
                f"127.0.0.1:{rx.port}",
                "--duration",
                "4",
                "--control",
                "off",
                "--stats-json",
                str(stats),
            ]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "video motion" in out and "camera 0" in out and "the camera drives the face" in out
    s = json.loads(stats.read_text())
    assert s["motion"]["source"] == "video" and s["motion"]["camera_frames"] >= 30
    assert s["motion"]["video_frames_tracked"] >= 10 and s["frames_out"] >= 30
    heads = [a for _, a in rx.of("/VMC/Ext/Bone/Pos") if a[0] == "Head"]
    jaw = np.array([a[1] for _, a in rx.of("/VMC/Ext/Blend/Val") if a[0] == "A"])  # VRM mouth-open
    # the known motion swings the head ±18° and opens the jaw 0..1: both reach the VMC receiver (the head bone's
    # quaternion y spans ~0.09: the classical renderer draws turns flatter (issue #16) and the neck takes a share)
    assert len(heads) >= 30 and np.ptp([h[5] for h in heads]) > 0.06
    assert jaw.max() > 0.3 and jaw.min() < 0.15


@pytest.mark.slow
def test_live_hybrid_camera_with_audio_and_live_region_weights(rendered, tmp_path: Path) -> None:
    """Hybrid live: audio played in real time clocks the frames, the camera drives the head; the mouth's
    video share changes while running."""
    import soundfile as sf

    from pyavatar.bench.tracking import portrait_image
    from pyavatar.face.params import NAMES
    from pyavatar.sdk import Avatar
    from pyavatar.video import CameraCapture
    from tests.motion.fixture_models import speech

    _, video = rendered("astronaut")
    clip = write_video(tmp_path / "camera.mp4", video, FPS)
    sf.write(tmp_path / "speech.wav", speech(3.0, seed=5), 16_000)
    avatar = Avatar.from_image(portrait_image("grace_hopper"), renderer="probe")
    camera = CameraCapture(0, opener=lambda _i: VideoFileDevice(clip, realtime=True, loop=True))
    seen: list[np.ndarray] = []
    with avatar.session(fps=30, motion="hybrid", motion_options={"camera": camera, "fallback": False}) as s:
        s.on_motion(lambda f: seen.append(f.params.copy()))
        s.start(file=tmp_path / "speech.wav")
        assert s.wait(1.5) is False
        s.motion.source.set_region_weight("mouth", 1.0)
        s.wait(10.0)
        stats = s.stats()
        mixer = s.motion.source.video.hybrid
    camera.close()
    params = np.stack(seen)
    yaw = params[:, NAMES.index("head_yaw")]
    assert stats["motion"]["source"] == "hybrid" and stats["motion"]["camera_frames"] >= 20
    assert len(params) >= 60 and np.ptp(yaw) > 5.0  # the camera's head motion (known yaw ±18°)
    assert stats["frames_out"] >= 60
    assert mixer.weights["mouth"] == 1.0 and mixer.mouth_share == 1.0  # the new share reached the mixing


def test_live_names_a_missing_camera(tmp_path: Path, capsys) -> None:
    from PIL import Image

    Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(tmp_path / "p.png")
    assert main(["live", str(tmp_path / "p.png"), "--renderer", "probe", "--camera", "NoSuchCamera"]) == 1
    out = capsys.readouterr().err
    assert "pyavatar live: error: no camera named like 'NoSuchCamera'" in out and "camera" in out
    assert main(["live", str(tmp_path / "p.png"), "--renderer", "probe", "--camera", "0", "--motion", "dsp"]) == 1
    assert "drive the video, hybrid or video-keypoints motion source, not --motion dsp" in capsys.readouterr().err
