"""Known FaceParams → classical renderer → tracker: the tracked values must follow the known ones."""

from __future__ import annotations

import logging

import pytest

from pyavatar.face.params import FaceParams
from pyavatar.tracking import FaceTracker, TrackerSettings
from pyavatar.tracking.iris import IrisSettings
from pyavatar.tracking.roundtrip import SCORED, score
from tests.tracking.conftest import FPS, LEAD

PORTRAITS = ("astronaut", "grace_hopper")
_scores: dict[str, dict] = {}


def _score(rendered, portrait: str, settings: TrackerSettings | None = None) -> dict:
    key = f"{portrait} {settings}"
    if key not in _scores:
        known, video = rendered(portrait)
        with FaceTracker(settings) as tracker:
            tracker.calibrate_frames(video[:LEAD])
            tracked = FaceParams.concat([tracker.process(f, i / FPS).params for i, f in enumerate(video)])
        _scores[key] = score(known, tracked, skip=LEAD)
    return _scores[key]


# The target, r >= 0.9, for every scored field. Gaze yaw behind Grace Hopper's glasses: 0.92 on this
# 75-frame clip with the pixel iris reading (iris band less socket), 0.89 from MediaPipe's iris alone, which
# reads a third of the drawn travel; the benchmark's 300-frame clips: 0.93-0.96 (benchmarks/TRACKING.md).
MIN_R = 0.9


@pytest.mark.slow
@pytest.mark.parametrize(("portrait", "field"), [(p, f) for p in PORTRAITS for f in SCORED])
def test_tracked_field_correlates_with_the_known_one(rendered, portrait: str, field: str):
    s = _score(rendered, portrait)
    assert s[field]["r"] >= MIN_R, {k: v for k, v in s.items() if k == field}


@pytest.mark.slow
@pytest.mark.parametrize("portrait", PORTRAITS)
def test_head_angles_and_blinks(rendered, portrait: str):
    s = _score(rendered, portrait)
    assert s["head_angle_mae_deg"] <= 2.0, s
    for side in ("left", "right"):
        events = s[f"blink_{side}_events"]
        assert events["known"] >= 2
        assert events["recall"] >= 0.95, s


@pytest.mark.slow
def test_the_pixel_iris_reads_gaze_better_than_the_mesh_behind_glasses(rendered):
    pixels = _score(rendered, "grace_hopper")["gaze_yaw"]["r"]
    mesh = _score(rendered, "grace_hopper", TrackerSettings(iris=None))["gaze_yaw"]["r"]
    assert pixels > mesh + 0.01, (pixels, mesh)


@pytest.mark.slow
def test_the_first_seconds_calibration_keeps_the_irises_too(rendered):
    """Without calibrate_frames, the neutral (and its iris bands) comes from the first tracked frames."""
    known, video = rendered("grace_hopper")
    gaze = {}
    for name, iris in (("pixels", TrackerSettings().iris), ("mesh", None)):
        with FaceTracker(TrackerSettings(calibrate_s=(LEAD - 1) / FPS, iris=iris)) as tracker:
            out = FaceParams.concat([tracker.process(f, i / FPS).params for i, f in enumerate(video)])
        gaze[name] = score(known, out, skip=LEAD)["gaze_yaw"]["r"]
    assert gaze["pixels"] >= MIN_R, gaze
    assert gaze["pixels"] > gaze["mesh"] + 0.01, gaze


@pytest.mark.slow
def test_an_eye_the_bands_cannot_sample_falls_back_to_the_mesh(rendered, caplog):
    known, video = rendered("astronaut")
    squeezed = IrisSettings(half_height=0.3, socket_inner=0.31, socket_outer=0.32)  # rows collapse onto one
    with (
        caplog.at_level(logging.WARNING, logger="pyavatar.tracking.tracker"),
        FaceTracker(TrackerSettings(iris=squeezed)) as tracker,
    ):
        tracker.calibrate_frames(video[:LEAD])
        out = FaceParams.concat([tracker.process(f, i / FPS).params for i, f in enumerate(video)])
    assert "no pixel iris reading" in caplog.text and "too small" in caplog.text
    assert score(known, out, skip=LEAD)["gaze_yaw"]["r"] >= MIN_R  # the mesh's own reading, as before
