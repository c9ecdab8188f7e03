"""The worker thread helper: the body's exception comes back from close(), once; stop ends the body."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from pyavatar.worker import Worker
from tests.runtime.helpers import pyavatar_threads


def test_close_reraises_the_body_error_once() -> None:
    def body() -> None:
        raise OSError("device unplugged")

    w = Worker("test-fail", body)
    w.start()
    with pytest.raises(OSError, match="unplugged"):
        w.close()
    w.close()  # idempotent: the error was handed back already
    assert "pyavatar-test-fail" not in pyavatar_threads()


def test_close_sets_stop_and_joins() -> None:
    stop = threading.Event()
    ran = threading.Event()

    def body() -> None:
        ran.set()
        stop.wait()

    w = Worker("test-loop", body, stop=stop)
    w.start()
    assert ran.wait(5.0) and w.alive and w.error is None
    with pytest.raises(RuntimeError, match="already started"):
        w.start()
    w.close()
    assert stop.is_set() and not w.alive


def test_join_returns_the_error_instead_of_raising() -> None:
    w = Worker("test-join", lambda: 1 / 0)
    w.start()
    assert isinstance(w.join(), ZeroDivisionError)
    assert w.join() is None


#: The modules that may start a thread without :class:`Worker`, and why.
OWN_THREADS = {
    "pyavatar/worker.py": "the helper itself",
    "pyavatar/runtime/pipeline.py": "the four pipeline threads share one error list: the first failure stops them all",
    "pyavatar/sdk/swap.py": "each failed swap is counted and logged for its request, never re-raised",
}


def test_threads_are_started_by_the_worker_helper() -> None:
    """A new ``threading.Thread(...)`` outside :class:`Worker` has to be justified in OWN_THREADS."""
    package = Path(__file__).resolve().parents[1] / "pyavatar"
    found = set()
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name == "Thread":
                    found.add(path.relative_to(package.parent).as_posix())
    assert found == set(OWN_THREADS), f"threads outside pyavatar.worker.Worker: {sorted(found - set(OWN_THREADS))}"
