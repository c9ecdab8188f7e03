"""FaceParams: construction, ranges, clamping, NaN handling, batching."""

from __future__ import annotations

import numpy as np
import pytest

from pyavatar.face.params import FIELDS, NAMES, FaceParams


def test_fields_broadcast_and_read_back() -> None:
    p = FaceParams.from_fields(jaw_open=np.array([0.1, 0.5, 0.9]), head_yaw=10.0)
    assert len(p) == 3 and p.values.shape == (3, len(NAMES))
    np.testing.assert_allclose(p.jaw_open, [0.1, 0.5, 0.9], rtol=1e-6)
    np.testing.assert_allclose(p["head_yaw"], 10.0)
    assert p.as_dict(1)["jaw_open"] == pytest.approx(0.5)
    assert p.blink_left.sum() == 0


def test_out_of_range_clamps_to_documented_ranges() -> None:
    p = FaceParams.from_fields(jaw_open=1.7, gaze_yaw=-80.0, head_roll=200.0, happy=-0.2)
    assert p.jaw_open[0] == 1.0 and p.gaze_yaw[0] == -45.0 and p.head_roll[0] == 90.0 and p.happy[0] == 0.0
    lo, hi = np.array([r[0] for r in FIELDS.values()]), np.array([r[1] for r in FIELDS.values()])
    big = FaceParams.from_array(np.full(len(NAMES), 1e6))
    np.testing.assert_array_equal(big.values[0], hi.astype(np.float32))
    np.testing.assert_array_equal(FaceParams.from_array(np.full(len(NAMES), -1e6)).values[0], lo.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_raises_naming_the_field(bad: float) -> None:
    with pytest.raises(ValueError, match="'mouth_round'"):
        FaceParams.from_fields(mouth_round=np.array([0.2, bad]))
    values = np.zeros((2, len(NAMES)))
    values[1, NAMES.index("gaze_pitch")] = bad
    with pytest.raises(ValueError, match="'gaze_pitch'"):
        FaceParams.from_array(values)
    with pytest.raises(ValueError, match="'blink_left'"):
        FaceParams.neutral(2).replace(blink_left=bad)


def test_unknown_fields_and_length_mismatch() -> None:
    with pytest.raises(ValueError, match="jaw_opn"):
        FaceParams.from_fields(jaw_opn=0.2)
    with pytest.raises(ValueError, match="different lengths"):
        FaceParams.from_fields(jaw_open=np.zeros(3), blink_left=np.zeros(4))
    with pytest.raises(AttributeError, match="nose"):
        _ = FaceParams.neutral().nose


def test_immutable_slicing_and_concat() -> None:
    p = FaceParams.from_fields(jaw_open=np.linspace(0, 1, 5))
    with pytest.raises(ValueError):
        p.values[0, 0] = 1.0
    q = p.replace(smile_left=0.5)
    assert p.smile_left.sum() == 0 and q.smile_left[0] == 0.5
    assert len(p[1:3]) == 2 and len(p[0]) == 1
    both = FaceParams.concat([p, q])
    assert len(both) == 10 and both[5:] == q
