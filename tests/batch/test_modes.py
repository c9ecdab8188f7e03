"""Local and Ray modes pass the same tests: retries then a report, resume after a kill, clean Ctrl-C, whole outputs.

Ray runs as a real local Ray with ``num_cpus=2``, started once for this module;
the command-line runs join it by address. Jobs are tiny (probe renderer, 128 px,
1 s of speech) so the time goes into process start-up, not rendering.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyavatar.batch import load_jobs, run_batch
from tests.batch import helpers
from tests.batch.helpers import FPS, check_outputs, make_inputs, manifest, partials, probe_rows, write_csv

pytest.importorskip("av")
MODES = ["local", "ray"]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray (2 CPUs) for the module; tasks may run the test helpers, pickled by value."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    cloudpickle.register_pickle_by_value(helpers)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        cloudpickle.unregister_pickle_by_value(helpers)
        ray.shutdown()


def _mode_options(mode: str, request: pytest.FixtureRequest) -> dict[str, object]:
    if mode == "ray":
        return {"ray": request.getfixturevalue("ray_address")}
    return {"workers": 2}


def _cli(jobs: Path, out: Path, mode: str, request: pytest.FixtureRequest) -> subprocess.Popen:
    extra = ["--ray", str(request.getfixturevalue("ray_address"))] if mode == "ray" else ["--workers", "1"]
    return subprocess.Popen(
        [sys.executable, "-m", "pyavatar.cli", "batch", str(jobs), "--out", str(out), "--no-progress", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_done(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while sum(e["status"] == "done" for e in manifest(out)) < n:
        assert proc.poll() is None, f"batch ended early: {proc.communicate()[0]}"
        assert time.monotonic() - t0 < timeout, "no progress in the batch"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_poisoned_and_crashing_jobs_are_retried_then_reported(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    make_inputs(tmp_path)
    rows = probe_rows(3) + [
        {
            "portrait": "p.jpg",
            "audio": "a0.wav",
            "output": "frames",
            "format": "png",
            "renderer": "probe",
            "size": 128,
            "fps": FPS,
        },
        {"portrait": "tiny.png", "audio": "a1.wav", "output": "poison.mp4", "renderer": "probe", "fps": FPS},
        {
            "id": helpers.CRASH_ID,
            "portrait": "p.jpg",
            "audio": "a2.wav",
            "output": "crash.mp4",
            "renderer": "probe",
            "fps": FPS,
        },
    ]
    jobs = load_jobs(write_csv(tmp_path / "jobs.csv", rows))
    out = tmp_path / "out"
    s = run_batch(jobs, out, retries=1, progress=False, task=helpers.crash_or_render, **_mode_options(mode, request))
    assert (s.done, s.failed, s.skipped, s.interrupted) == (4, 2, 0, False)
    last = {e["job"]: e for e in manifest(out)}
    assert last["poison.mp4"]["status"] == "failed" and last["poison.mp4"]["attempts"] == 2
    assert "portrait too small" in last["poison.mp4"]["error"]
    assert last["crash"]["status"] == "failed" and last["crash"]["attempts"] == 2
    assert s.errors["crash"] == last["crash"]["error"]
    for job in ("clip0.mp4", "clip1.mp4", "clip2.mp4", "frames"):
        assert last[job]["status"] == "done" and last[job]["attempts"] == 1 and last[job]["frames"] == FPS
    assert check_outputs(out, FPS) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert len(list((out / "frames").glob("*.png"))) == FPS
    assert partials(out) == []
    # a re-run skips what is done and tries the failed jobs again
    again = run_batch(
        jobs, out, retries=0, progress=False, task=helpers.crash_or_render, **_mode_options(mode, request)
    )
    assert (again.done, again.failed, again.skipped) == (0, 2, 4)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_resume_after_kill_renders_only_what_was_missing(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    make_inputs(tmp_path)
    jobs_file = write_csv(tmp_path / "jobs.csv", probe_rows(8))
    out = tmp_path / "out"
    proc = _cli(jobs_file, out, mode, request)
    try:
        _wait_for_done(out, 2, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    first = {e["job"] for e in manifest(out) if e["status"] == "done"}  # parses every line: none cut off
    missing = {f"clip{i}.mp4" for i in range(8)} - first
    assert len(first) >= 2 and missing, "the kill should land mid-batch"
    time.sleep(1.0)  # let a worker that outlived the driver (it must not) show itself
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.mp4")}
    assert first <= set(check_outputs(out, FPS))  # whatever has a final name is a whole video
    s = run_batch(load_jobs(jobs_file), out, progress=False, **_mode_options(mode, request))
    assert (s.done, s.failed, s.skipped) == (len(missing), 0, len(first))
    second = manifest(out)[len(first) :]
    assert sorted(e["job"] for e in second) == sorted(missing)
    for name in first:  # not rendered again
        p = out / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == before[name]
    assert check_outputs(out, FPS) == sorted(f"clip{i}.mp4" for i in range(8))
    assert partials(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2], ids=["finish-running", "abandon-running"])
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_stops_cleanly(mode: str, presses: int, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    make_inputs(tmp_path, seconds=3.0)  # jobs long enough that the second Ctrl-C lands while they run
    jobs_file = write_csv(tmp_path / "jobs.csv", probe_rows(10))
    out = tmp_path / "out"
    proc = _cli(jobs_file, out, mode, request)
    lines: list[str] = []
    try:
        _wait_for_done(out, 1, proc)
        while not partials(out):  # press while a job is being written
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGINT)
        if presses == 2:
            assert proc.stdout is not None
            while not lines or (lines[-1] and not lines[-1].startswith("stopping:")):
                lines.append(proc.stdout.readline())
            os.kill(proc.pid, signal.SIGINT)
        text = "".join(lines) + proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, text
    assert "(interrupted)" in text and "Traceback" not in text
    assert ("abandoned" in text) == (presses == 2), text
    done = {e["job"] for e in manifest(out) if e["status"] == "done"}
    assert 1 <= len(done) < 10
    assert set(check_outputs(out, 3 * FPS)) == done  # what finished is recorded, nothing else has a final name
    assert partials(out) == []
    if presses == 2:  # the abandoned jobs run next time
        s = run_batch(load_jobs(jobs_file), out, progress=False, **_mode_options(mode, request))
        assert (s.done, s.skipped) == (10 - len(done), len(done))


@pytest.mark.parametrize("mode", MODES)
def test_abandoning_keeps_the_outcome_of_a_job_that_already_ended(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A job that finished (its output published) before the second Ctrl-C is recorded, not abandoned."""
    from pyavatar.batch.pool import LocalPool, PendingJobs

    make_inputs(tmp_path)
    job = load_jobs(write_csv(tmp_path / "jobs.csv", probe_rows(1)))[0]
    if mode == "ray":
        import ray

        from pyavatar.batch.ray_backend import RayBackend

        backend = RayBackend(request.getfixturevalue("ray_address"), helpers.instant_result, str(tmp_path))
        backend.dispatch(PendingJobs([job]))
        ready, _ = ray.wait(list(backend._refs), timeout=60)  # ended, its outcome not yet polled
        assert ready
    else:
        backend = LocalPool(1, helpers.instant_result, str(tmp_path))
        backend.dispatch(PendingJobs([job]))
        assert backend._slots[0].conn is not None and backend._slots[0].conn.poll(60)  # outcome waiting, unread
    try:
        finished, abandoned = backend.abandon()
    finally:
        backend.close()
    assert abandoned == [] and [(o.job.id, o.error, o.result) for o in finished] == [
        (job.id, "", {"frames": 1, "seconds": 0.0, "audio_seconds": 0.0})
    ]
