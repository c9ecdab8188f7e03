"""Job files, the parameter hash, the manifest, the folder lock and scheduling order (no worker processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from pyavatar.batch import JobFileError, load_jobs
from pyavatar.batch.manifest import Manifest, OutDirLock
from pyavatar.batch.params import Fingerprints
from pyavatar.batch.pool import PendingJobs
from pyavatar.batch.ray_backend import resources
from pyavatar.batch.render import remove_partials, temp_path
from pyavatar.cli import main
from tests.batch.helpers import make_inputs, write_csv


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    make_inputs(tmp_path)
    return tmp_path


def test_every_problem_is_reported_at_once_naming_row_and_column(inputs: Path) -> None:
    rows = [
        {"portrait": "p.jpg", "audio": "a0.wav", "output": "ok.mp4"},
        {"portrait": "nope.jpg", "audio": "a0.wav", "output": "../escape.mp4", "fps": "fast", "colour": "red"},
        {"portrait": "p.jpg", "audio": "a1.wav", "output": "b.avi", "renderer": "os:system", "emotion": "smug"},
        {"portrait": "p.jpg", "audio": "a2.wav", "output": "ok.mp4", "size": "12", "crf": "2.5"},
        {"audio": "a2.wav", "output": "c.mov", "format": "webm", "renderer": "neural"},
        {"portrait": "p.jpg", "audio": "a2.wav", "output": "d.mp4", "motion": "pkg:Factory", "motion_weights": "m.pt"},
        {"portrait": "p.jpg", "audio": "a2.wav", "output": "e.mp4", "motion": "diffusion"},
    ]
    with pytest.raises(JobFileError) as e:
        load_jobs(write_csv(inputs / "jobs.csv", rows))
    problems = e.value.problems
    expected = [
        ("header (line 1), column 'colour'", "unknown column"),
        ("row 2 (line 3), column 'fps'", "expected float, got 'fast'"),
        ("row 2 (line 3), column 'portrait'", "file not found"),
        ("row 2 (line 3), column 'output'", "inside the output folder"),
        ("row 3 (line 4), column 'renderer'", "unknown renderer 'os:system'"),
        ("row 3 (line 4), column 'emotion'", "unknown value 'smug'"),
        ("row 3 (line 4), column 'output'", "unknown output type '.avi'"),
        ("row 4 (line 5), column 'size'", "must be in 64..8192"),
        ("row 4 (line 5), column 'crf'", "expected int"),
        ("row 5 (line 6), column 'portrait'", "required"),
        ("row 5 (line 6), column 'weights'", "needs a weights folder"),
        ("row 5 (line 6), column 'output'", "disagrees with format 'webm'"),
        ("row 6 (line 7), column 'motion'", "unknown motion source 'pkg:Factory'"),
        ("row 6 (line 7), column 'motion_weights'", "file not found"),
    ]
    for where, what in expected:
        assert any(p.startswith(where) and what in p for p in problems), (where, what, problems)
    assert len(problems) == len(expected)
    assert str(inputs / "jobs.csv") in str(e.value)


def test_json_lines_defaults_paths_and_duplicates(inputs: Path) -> None:
    (inputs / "w").mkdir()
    lines = [
        json.dumps({"portrait": "p.jpg", "audio": "a0.wav", "output": "sub/one", "fps": 25, "size": 128}),
        "",
        json.dumps(
            {
                "id": "two",
                "portrait": "p.jpg",
                "audio": "a1.wav",
                "output": "frames",
                "format": "png",
                "weights": "w",
                "seed": 3,
                "intensity": 0.5,
                "emotion": "happy",
            }
        ),
    ]
    (inputs / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    one, two = load_jobs(inputs / "jobs.jsonl")
    assert (one.id, one.output, one.format, one.renderer, one.fps, one.size) == (
        "sub/one.mp4",
        "sub/one.mp4",
        "mp4",
        "classical",
        25.0,
        128,
    )
    assert one.portrait == str(inputs / "p.jpg") and one.audio_seconds == pytest.approx(1.0)
    assert (two.id, two.output, two.renderer, two.weights, two.neural) == (
        "two",
        "frames",
        "neural",
        str(inputs / "w"),
        True,
    )
    (inputs / "dup.jsonl").write_text(lines[0] + "\n" + lines[0] + "\n[1, 2]\n{not json\n")
    with pytest.raises(JobFileError) as e:
        load_jobs(inputs / "dup.jsonl")
    assert e.value.problems == [
        "row 2 (line 2), column 'id': 'sub/one.mp4' is already used by row 1 (line 1)",
        "row 2 (line 2), column 'output': 'sub/one.mp4' is already used by row 1 (line 1)",
        "row 3 (line 3): expected a JSON object, got list",
        "row 4 (line 4): not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]


def test_unreadable_audio_is_caught_before_the_batch(inputs: Path) -> None:
    (inputs / "noise.wav").write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(JobFileError, match=r"row 1 \(line 2\), column 'audio': .*noise.wav: not a readable audio"):
        load_jobs(write_csv(inputs / "jobs.csv", [{"portrait": "p.jpg", "audio": "noise.wav", "output": "x"}]))


def test_parameter_hash_follows_contents_and_options_not_names(inputs: Path) -> None:
    rows = [
        {"portrait": "p.jpg", "audio": "a0.wav", "output": "x.mp4"},
        {"id": "other", "portrait": "p.jpg", "audio": "a0.wav", "output": "y.mp4"},
        {"portrait": "p.jpg", "audio": "a0.wav", "output": "z.mp4", "emotion": "sad"},
    ]
    x, y, z = load_jobs(write_csv(inputs / "jobs.csv", rows))
    h = Fingerprints()
    assert h.job_hash(x) != h.job_hash(y)  # the output differs
    assert h.job_hash(x) != h.job_hash(z)
    assert Fingerprints().job_hash(x) == h.job_hash(x)
    data, rate = sf.read(inputs / "a0.wav")
    sf.write(inputs / "a0.wav", data * 0.5, rate)
    assert Fingerprints().job_hash(x) != h.job_hash(x)


def test_manifest_drops_a_cut_line_and_keeps_the_last_state(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    m = Manifest(path)
    m.append({"job": "a", "status": "failed"})
    m.append({"job": "a", "status": "done"})
    m.close()
    with path.open("ab") as f:
        f.write(b'{"job": "b", "stat')  # a run killed mid-write
    m = Manifest(path)
    assert {k: v["status"] for k, v in m.entries.items()} == {"a": "done"}
    m.append({"job": "b", "status": "done"})
    m.close()
    assert [json.loads(line)["job"] for line in path.read_text().splitlines()] == ["a", "a", "b"]


def test_one_batch_per_output_folder(tmp_path: Path) -> None:
    with OutDirLock(tmp_path):
        with pytest.raises(OSError, match="another pyavatar batch"):
            with OutDirLock(tmp_path):
                pass
    with OutDirLock(tmp_path):
        pass


def test_temporary_names_keep_the_type_and_are_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "clip.v1.mp4"
    tmp = temp_path(out, 123)
    assert tmp.name.startswith(".") and tmp.suffix == ".mp4"
    assert temp_path(tmp_path / "frames", 9).suffix == ""
    tmp.write_bytes(b"half")
    (tmp_path / ".frames-9-partial").mkdir()
    (tmp_path / ".frames-9-partial" / "frame_000000.png").write_bytes(b"x")
    keep = tmp_path / ".clip.v2-1-partial.mp4"
    keep.write_bytes(b"another output's")
    remove_partials(out)
    remove_partials(tmp_path / "frames")
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep.name]


def test_jobs_go_to_the_worker_that_prepared_their_portrait(inputs: Path) -> None:
    rows = [
        {"portrait": p, "audio": "a0.wav", "output": f"{i}.mp4"}
        for i, p in enumerate(["p.jpg", "tiny.png", "p.jpg", "tiny.png", "p.jpg"])
    ]
    jobs = load_jobs(write_csv(inputs / "jobs.csv", rows))
    pending = PendingJobs(jobs)
    first = pending.take()
    assert first.output == "0.mp4"
    assert pending.take(jobs[1].portrait_key).output == "1.mp4"
    assert pending.take(first.portrait_key).output == "2.mp4"
    assert [pending.take(("none",)).output for _ in range(len(pending))] == ["4.mp4", "3.mp4"]
    assert not pending


def test_neural_jobs_ask_ray_for_gpus(inputs: Path) -> None:
    (inputs / "w").mkdir()
    rows = [
        {"portrait": "p.jpg", "audio": "a0.wav", "output": "n.mp4", "weights": "w"},
        {"portrait": "p.jpg", "audio": "a0.wav", "output": "c.mp4"},
    ]
    neural, classical = load_jobs(write_csv(inputs / "jobs.csv", rows))
    assert resources(neural, 0.5) == {"num_cpus": 1, "num_gpus": 0.5}
    assert resources(classical, 0.5) == {"num_cpus": 1, "num_gpus": 0}


def test_cli_reports_a_bad_job_file_without_running(inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = write_csv(inputs / "jobs.csv", [{"portrait": "p.jpg", "audio": "missing.wav", "output": "x.mp4"}])
    assert main(["batch", str(jobs), "--out", str(inputs / "out")]) == 1
    text = capsys.readouterr().err
    assert text.startswith("pyavatar batch: error: ") and "1 problem(s)" in text
    assert "row 1 (line 2), column 'audio': file not found" in text
    assert not (inputs / "out").exists()


def test_a_worker_prepares_each_portrait_once(inputs: Path) -> None:
    from pyavatar.batch import render

    rows = [
        {"portrait": "p.jpg", "audio": f"a{i}.wav", "output": f"{i}.mp4", "renderer": "probe", "size": 64, "fps": 10}
        for i in range(3)
    ]
    jobs = load_jobs(write_csv(inputs / "jobs.csv", rows))
    render._avatars.clear()
    results = [render.render_job(jobs[0], str(inputs / "out"))]
    (prepared,) = render._avatars.values()
    results += [render.render_job(job, str(inputs / "out")) for job in jobs[1:]]
    assert list(render._avatars.values()) == [prepared] and render._avatars[jobs[2].portrait_key] is prepared
    assert [r["frames"] for r in results] == [10, 10, 10] and results[0]["size"] == [64, 64]
    assert sorted(p.name for p in (inputs / "out").iterdir()) == ["0.mp4", "1.mp4", "2.mp4"]
    render._avatars.clear()
