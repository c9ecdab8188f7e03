"""``pyavatar --help`` and every command's ``--help`` stay fast: they import no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "numpy", "mediapipe", "cv2", "av", "scipy", "ray", "triton")

SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys
    from pyavatar.cli import build_parser, main
    commands = sorted(build_parser()._subparsers._group_actions[0].choices)
    codes = {}
    for argv in [[], *([c] for c in commands)]:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main([*argv, "--help"])
            except SystemExit as e:
                codes[" ".join(argv) or "pyavatar"] = e.code
    heavy = set(sys.argv[1:])
    print(json.dumps({"codes": codes, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}))
""")


def test_every_help_page_imports_no_heavy_library() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT, *HEAVY], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(result["codes"]) > 10 and set(result["codes"].values()) == {0}, result["codes"]
    assert result["loaded"] == [], f"--help imported {result['loaded']}"


def test_every_command_describes_itself() -> None:
    from pyavatar.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    missing = sorted(name for name, parser in commands.items() if not (parser.description or "").strip())
    assert missing == [], f"commands without a description on their --help page: {missing}"
