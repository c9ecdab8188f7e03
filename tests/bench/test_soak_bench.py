"""``pyavatar bench soak`` end to end on a short run (only the presence of the figures is tested)."""

from __future__ import annotations

import json
from pathlib import Path

from pyavatar.bench.soak import looped_signal, slope_per_hour
from pyavatar.cli import main as cli_main


def test_helpers() -> None:
    cycle = __import__("numpy").arange(7, dtype="float32")
    chunks = list(looped_signal(cycle, 1000, 0.025, block_ms=10.0))
    assert [len(c.samples) for c in chunks] == [10, 10, 5] and chunks[1].pts_ns == 10_000_000
    assert chunks[1].samples.tolist() == [3, 4, 5, 6, 0, 1, 2, 3, 4, 5]
    assert abs(slope_per_hour([0.0, 1800.0, 3600.0], [100.0, 105.0, 110.0]) - 10.0) < 1e-9


def test_short_soak_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    code = cli_main(
        [
            "bench",
            "soak",
            "--minutes",
            "0.1",
            "--renderer",
            "probe",
            "--size",
            "128",
            "--threads",
            "1",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert code == 0 and result["exceptions"] == 0 and result["exception_messages"] == []
    for key in ("rss_slope_mb_per_hour", "p50_ms", "p95_ms", "drops", "repeats", "drift_frames", "per_minute"):
        assert key in result
    assert result["frames_out"] > 100 and result["per_minute"][0]["frames"] > 100
