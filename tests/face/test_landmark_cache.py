"""The per-user landmark cache: same answer, no detector on a hit, never a failure from the cache itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pyavatar.face.landmark_cache import CachedLandmarks, cached_array
from pyavatar.face.landmarks import MEDIAPIPE_478, FaceLandmarks


class CountingBackend:
    """Deterministic landmarks derived from the pixels; counts calls and closes."""

    instances: list[CountingBackend] = []

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False
        CountingBackend.instances.append(self)

    def detect(self, image: np.ndarray) -> list[FaceLandmarks]:
        self.calls += 1
        rng = np.random.default_rng(int(image.sum()))
        return [
            FaceLandmarks((1.0, 2.0, 30.0, 40.0), rng.normal(size=(478, 2)) * 50, 0.9, MEDIAPIPE_478),
            FaceLandmarks((5.0, 6.0, 10.0, 12.0), rng.normal(size=(478, 2)), 0.6, MEDIAPIPE_478),
        ]

    def close(self) -> None:
        self.closed = True


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _same(a: list[FaceLandmarks], b: list[FaceLandmarks]) -> bool:
    return len(a) == len(b) and all(
        x.box == y.box and x.score == y.score and x.scheme == y.scheme and np.array_equal(x.points, y.points)
        for x, y in zip(a, b)
    )


def test_hit_returns_the_same_faces_without_making_the_detector(tmp_path: Path) -> None:
    CountingBackend.instances.clear()
    first = CachedLandmarks(CountingBackend, "s1", tmp_path)
    faces = first.detect(_image(0))
    assert (first.hits, first.misses) == (0, 1) and CountingBackend.instances[0].calls == 1
    first.close()
    assert CountingBackend.instances[0].closed

    second = CachedLandmarks(CountingBackend, "s1", tmp_path)  # a new process would see the same files
    assert _same(second.detect(_image(0)), faces)
    assert (second.hits, second.misses) == (1, 0) and len(CountingBackend.instances) == 1

    assert not _same(second.detect(_image(1)), faces)  # other pixels: a miss
    other_settings = CachedLandmarks(CountingBackend, "s2", tmp_path)
    other_settings.detect(_image(0))  # other detector settings: a miss
    assert other_settings.misses == 1


def test_damaged_entry_is_detected_again_and_rewritten(tmp_path: Path) -> None:
    cache = CachedLandmarks(CountingBackend, "s", tmp_path)
    faces = cache.detect(_image(3))
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not a zip file")
    again = CachedLandmarks(CountingBackend, "s", tmp_path)
    assert _same(again.detect(_image(3)), faces) and again.misses == 1
    assert _same(CachedLandmarks(CountingBackend, "s", tmp_path).detect(_image(3)), faces)


def test_unwritable_cache_folder_still_detects(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    cache = CachedLandmarks(CountingBackend, "s", blocker / "landmarks")
    assert len(cache.detect(_image(5))) == 2
    assert "could not write the cache entry" in caplog.text
    assert not list(tmp_path.glob("**/.tmp-*"))


def test_no_folder_means_no_cache(tmp_path: Path) -> None:
    cache = CachedLandmarks(CountingBackend, "s", None)
    cache.detect(_image(6))
    cache.detect(_image(6))
    assert cache.misses == 2 and cache.hits == 0


def test_second_prepare_of_a_portrait_does_not_load_mediapipe(tmp_path: Path) -> None:
    """The real path: a second process preparing the same portrait answers from the cache."""
    script = textwrap.dedent("""
        import sys
        from pyavatar.sdk import Avatar
        from pyavatar.assets import DEMO_PORTRAIT
        Avatar.from_image(DEMO_PORTRAIT)
        print("mediapipe" in sys.modules)
    """)
    env = {**os.environ, "PYAVATAR_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [r.stdout.split()[-1] for r in runs] == ["True", "False"]
    assert len(list((tmp_path / "landmarks").glob("*.npz"))) == 1
    assert len(list((tmp_path / "depth").glob("*.npz"))) == 1


def test_cached_array_remembers_values_and_none(tmp_path: Path) -> None:
    calls = []

    def compute(value):
        calls.append(value)
        return value

    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(cached_array(tmp_path, "a", (x,), lambda: compute(x * 2)), x * 2)
    assert np.array_equal(cached_array(tmp_path, "a", (x,), lambda: compute(None)), x * 2)
    assert cached_array(tmp_path, "b", (x,), lambda: compute(None)) is None
    assert cached_array(tmp_path, "b", (x,), lambda: compute(x)) is None
    assert len(calls) == 2
