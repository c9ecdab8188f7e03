"""``pyavatar track --video FILE --vmc HOST:PORT``: tracked ARKit shapes and head bones arrive over real UDP."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.video import write_video
from tests.outputs.osc_receiver import Receiver
from tests.tracking.conftest import FPS


@pytest.mark.slow
def test_track_sends_vmc_from_a_video(rendered, tmp_path: Path, capsys):
    _, video = rendered("astronaut")
    clip = write_video(tmp_path / "face.mp4", video, FPS)
    neutral = tmp_path / "neutral.png"
    from PIL import Image

    Image.fromarray(video[0]).save(neutral)
    with Receiver() as rx:
        code = main(
            ["track", "--video", str(clip), "--vmc", f"127.0.0.1:{rx.port}", "--calibrate-neutral", str(neutral)]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    m = re.search(r"(\d+) frames tracked, face found in (\d+), (\d+) camera frames skipped", out)
    assert m, out
    tracked, found, skipped = (int(v) for v in m.groups())
    assert tracked == found and tracked + skipped == len(video)  # a slow machine skips frames, never queues them
    values = rx.of("/VMC/Ext/Blend/Val")
    jaw = np.array([a[1] for _, a in values if a[0] == "JawOpen"])
    blink = np.array([a[1] for _, a in values if a[0] == "EyeBlinkLeft"])
    assert len(jaw) >= 60 and {a[0] for _, a in values} >= {"MouthPressLeft", "CheekSquintRight", "MouthFunnel"}
    assert tracked >= 10 and jaw.max() > 0.3 and jaw.min() < 0.1  # frames skipped under load may hide peaks
    assert blink.min() == 0.0 and len(blink) == len(jaw)
    heads = [a for _, a in rx.of("/VMC/Ext/Bone/Pos") if a[0] == "Head"]
    qy = np.array([h[5] for h in heads])  # Unity quaternion y: the yaw (±18° rendered flatter, the neck's share off)
    assert np.ptp(qy) > 0.06


def test_track_names_a_missing_camera(capsys):
    assert main(["track", "--camera", "NoSuchCamera", "--vmc", "127.0.0.1:39539"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyavatar track: error: ") and "no camera named like 'NoSuchCamera'" in err
