"""``pyavatar extract-motion``: a clip rendered from known parameters comes back as a dataset item."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyavatar.cli import main
from pyavatar.evaluation.dataset import load_dataset
from pyavatar.video import write_video
from tests.tracking.conftest import FPS, LEAD


def _speech_like(n_frames: int, jaw: np.ndarray) -> np.ndarray:
    """16 kHz audio whose loudness follows the jaw (a voiced buzz), silent where the jaw is closed."""
    t = np.arange(int(n_frames / FPS * 16000)) / 16000
    env = np.interp(t, np.arange(n_frames) / FPS, (jaw > 0.15).astype(float) * 0.3)
    return (env * np.sign(np.sin(2 * np.pi * 140 * t)) * 0.5).astype(np.float32)


@pytest.mark.slow
def test_extract_motion_round_trip_and_checks(rendered, tmp_path: Path, capsys):
    known, video = rendered("astronaut")
    grace_known, grace = rendered("grace_hopper")
    good = write_video(tmp_path / "talk.mp4", video, FPS, audio=_speech_like(len(video), known.jaw_open))
    cut = np.concatenate([video[:40], grace[40:]])
    spliced = write_video(tmp_path / "spliced.mp4", cut, FPS, audio=_speech_like(len(cut), known.jaw_open))
    silent_video = write_video(tmp_path / "novoice.mp4", video[:20], FPS)
    out = tmp_path / "data"
    code = main(["extract-motion", str(good), str(spliced), str(silent_video), str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    manifest = json.loads((out / "manifest.json").read_text())
    clips = {c["name"]: c for c in manifest["clips"]}
    assert clips["talk"]["accepted"] and clips["talk"]["faces_max"] == 1 and clips["talk"]["found"] == 1.0
    assert not clips["spliced"]["accepted"] and any("cut" in r for r in clips["spliced"]["reasons"])
    assert abs(clips["spliced"]["cuts"][0] - 40 / FPS) < 0.05
    assert not clips["novoice"]["accepted"] and clips["novoice"]["reasons"] == ["no audio track"]
    # the dataset loader reads it; only accepted clips are written (AAC pads up to ~2 frames of audio)
    items = load_dataset(out)
    assert [i.name for i in items] == ["talk"]
    ref = items[0].reference
    assert abs(len(ref) - len(video) / FPS * 25) <= 2.5 and ref.speaking.any() and (~ref.speaking.astype(bool)).any()
    face = np.load(out / "talk.face.npz")
    assert face["values"].shape == (len(video), len(face["names"])) and float(face["fps"]) == FPS
    names = list(face["names"])
    for field in ("jaw_open", "blink_left", "blink_right", "head_yaw"):
        a, b = known[field][LEAD:], face["values"][LEAD:, names.index(field)]
        assert np.corrcoef(a, b)[0, 1] >= 0.9, field
