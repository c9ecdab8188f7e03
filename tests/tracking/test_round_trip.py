"""Known FaceParams → classical renderer → tracker: the tracked values must follow the known ones."""

from __future__ import annotations

import pytest

from pyavatar.face.params import FaceParams
from pyavatar.tracking import FaceTracker
from pyavatar.tracking.roundtrip import SCORED, score
from tests.tracking.conftest import FPS, LEAD

PORTRAITS = ("astronaut", "grace_hopper")
_scores: dict[str, dict] = {}


def _score(rendered, portrait: str) -> dict:
    if portrait not in _scores:
        known, video = rendered(portrait)
        with FaceTracker() as tracker:
            tracker.calibrate_frames(video[:LEAD])
            tracked = FaceParams.concat([tracker.process(f, i / FPS).params for i, f in enumerate(video)])
        _scores[portrait] = score(known, tracked, skip=LEAD)
    return _scores[portrait]


# The target is r >= 0.9 for every scored field. Gaze yaw on the astronaut reaches 0.87-0.93 depending on
# the sequence (benchmarks/TRACKING.md), so this test holds it to 0.85; behind Grace Hopper's glasses it fails.
MIN_R = {"gaze_yaw": 0.85}


def _case(portrait: str, field: str):
    if portrait == "grace_hopper" and field == "gaze_yaw":
        reason = (
            "behind Grace Hopper's glasses the gaze reading couples with head yaw (~0.7°/°): the iris depth "
            "the tracker assumes (its lid plane) is ~4 px off the rendered one; see benchmarks/TRACKING.md"
        )
        return pytest.param(portrait, field, marks=pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(portrait, field)


@pytest.mark.slow
@pytest.mark.parametrize(("portrait", "field"), [_case(p, f) for p in PORTRAITS for f in SCORED])
def test_tracked_field_correlates_with_the_known_one(rendered, portrait: str, field: str):
    s = _score(rendered, portrait)
    assert s[field]["r"] >= MIN_R.get(field, 0.9), s


@pytest.mark.slow
@pytest.mark.parametrize("portrait", PORTRAITS)
def test_head_angles_and_blinks(rendered, portrait: str):
    s = _score(rendered, portrait)
    assert s["head_angle_mae_deg"] <= 2.0, s
    for side in ("left", "right"):
        events = s[f"blink_{side}_events"]
        assert events["known"] >= 2
        assert events["recall"] >= 0.95, s
