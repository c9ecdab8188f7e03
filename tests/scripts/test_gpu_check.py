"""scripts/gpu_check.sh cannot rot: its commands parse, its checks judge, and its CPU rehearsal runs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pyavatar.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
sys.path.insert(0, str(REPO / "scripts"))
import gpu_tests_report  # noqa: E402


def _plan(*flags: str) -> list[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--plan", *flags], check=True, capture_output=True, text=True, timeout=30
    ).stdout.splitlines()


def test_scripts_are_valid_bash() -> None:
    for name in ("gpu_check.sh", "gpu_wheels.sh"):
        subprocess.run(["bash", "-n", str(REPO / "scripts" / name)], check=True, timeout=30)


@pytest.mark.parametrize("mode", [(), ("--dry-run",)], ids=["gpu", "dry-run"])
def test_every_bench_command_of_the_plan_parses(mode: tuple[str, ...], tmp_path: Path) -> None:
    lines = _plan(*mode)
    assert lines[0].startswith("mode: " + ("cpu" if mode else "gpu"))
    parts = [line.split()[0] for line in lines[1:]]
    assert parts == ["env", "wheels", "fixtures", "build", "tests", "kernels", "render", "motion", "profile"]
    benches = [line.split("pyavatar.cli ", 1)[1].split(" > ")[0] for line in lines if "pyavatar.cli bench" in line]
    assert len(benches) == 4  # kernels, render, motion, profile
    for command in benches:
        argv = shlex.split(command.replace("$OUT", str(tmp_path)).split("  (")[0])
        args = build_parser().parse_args(argv)  # an option the suite lacks exits with status 2
        assert args.command == "bench" and callable(args.func)
    render = next(c for c in benches if c.startswith("bench render"))
    if not mode:
        assert "--config full" in render and "--batch 1 4" in render and "--cuda-graphs on off" in render


def test_unknown_parts_and_options_are_refused() -> None:
    for flags in (["--parts", "tests,nope"], ["--bogus"]):
        done = subprocess.run(["bash", str(SCRIPT), "--plan", *flags], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, done.stdout


def _junit(path: Path, cases: list[str]) -> Path:
    path.write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")
    return path


def test_report_fails_on_failures_and_on_skips_the_gpu_does_not_explain(tmp_path: Path) -> None:
    ok = '<testcase classname="t" name="a"/>'
    gpu_skip = '<testcase classname="t" name="b"><skipped message="no CUDA device"/></testcase>'
    other_skip = '<testcase classname="t" name="c"><skipped message="fixtures not found at /x"/></testcase>'
    failed = '<testcase classname="t" name="d"><failure message="boom"/></testcase>'
    assert gpu_tests_report.report_tests(_junit(tmp_path / "a.xml", [ok, gpu_skip]), "cpu") == 0
    assert gpu_tests_report.report_tests(_junit(tmp_path / "b.xml", [ok, gpu_skip]), "cuda") == 1
    assert gpu_tests_report.report_tests(_junit(tmp_path / "c.xml", [ok, other_skip]), "cpu") == 1
    assert gpu_tests_report.report_tests(_junit(tmp_path / "d.xml", [ok, failed]), "cpu") == 1
    assert gpu_tests_report.report_tests(_junit(tmp_path / "e.xml", []), "cpu") == 1
    assert gpu_tests_report.report_tests(tmp_path / "missing.xml", "cpu") == 1


def test_out_check_applies_the_transfer_limits(tmp_path: Path) -> None:
    for i in range(8):
        (tmp_path / f"f{i}.txt").write_text("x")
    assert gpu_tests_report.check_out(tmp_path) == 0
    (tmp_path / "one too many.txt").write_text("x")
    assert gpu_tests_report.check_out(tmp_path) == 1


@pytest.mark.slow
def test_in_place_rehearsal_runs_the_gpu_parts_on_cpu(shared_dir: Path, tmp_path: Path) -> None:
    """The parts after the build, on CPU, with the GPU machine's missing packages blocked."""
    out = tmp_path / "out"
    done = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--dry-run",
            "--in-place",
            "--parts",
            "env,fixtures,tests,kernels,motion,profile",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": "", "PYTHON": sys.executable},
    )
    summary = (out / "summary.txt").read_text()
    assert done.returncode == 0, summary + (out / "log.txt").read_text()[-4000:]
    for name in ("env.txt", "tests.xml", "kernels.json", "motion.json", "ncu.txt", "log.txt"):
        assert (out / name).is_file(), name
    assert "fits the transfer limits" in summary


def test_bench_render_config_is_full_or_a_config_file(fixtures_dir: Path, tmp_path: Path) -> None:
    """The rehearsal's --config: the fixtures' config file; a bad file is named in the error."""
    from pyavatar.bench.render import _config
    from pyavatar.render.liveportrait.config import LivePortraitConfig

    path = fixtures_dir / "liveportrait" / "config_reduced.json"
    assert _config(str(path)) == LivePortraitConfig.from_json(path)
    assert _config("full") == LivePortraitConfig()
    bad = tmp_path / "bad.json"
    bad.write_text('{"spade_generator_params": {"widht": 3}}')
    with pytest.raises(SystemExit, match=r"bad\.json: .*unknown parameter"):
        _config(str(bad))
    with pytest.raises(SystemExit, match="missing.json"):
        _config(str(tmp_path / "missing.json"))
