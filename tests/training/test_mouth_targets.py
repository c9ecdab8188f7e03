"""MouthNet training targets: 100 Hz from phone timings, the 25 fps reference repeated otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyavatar.evaluation.dataset import load_dataset, reference_from_phones, save_item
from pyavatar.motion.learned.model import CLASSES
from pyavatar.training.data import targets


def test_targets_place_closings_to_the_row(tmp_path: Path) -> None:
    sr = 16000
    phones = [("a", 0.30, 0.61), ("m", 0.61, 0.72)]  # speech ends 10 ms into a 25 fps frame
    ref = reference_from_phones(phones, 1.0)
    ref.meta = {"phones": [list(p) for p in phones]}
    save_item(tmp_path / "with", "clip", np.zeros(sr), sr, ref)
    ref.meta = {}
    save_item(tmp_path / "without", "clip", np.zeros(sr), sr, ref)
    fine = targets(load_dataset(tmp_path / "with")[0])
    coarse = targets(load_dataset(tmp_path / "without")[0])
    assert fine.shape == coarse.shape == (100, 5)
    sil = CLASSES.index("sil")
    assert fine[72, 1] == sil and fine[71, 1] == CLASSES.index("cons")  # the phone ends at row 72
    assert (coarse[68:72, 1] == coarse[68, 1]).all()  # 25 fps: one label for rows 68-71
    assert fine[30:61, 4].all() and not fine[:30, 4].any() and not fine[72:, 4].any()
    np.testing.assert_allclose(fine[:, 0].reshape(25, 4).mean(axis=1), ref.jaw_open, atol=1e-6)
