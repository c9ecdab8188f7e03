"""The worker thread helper: the body's exception comes back from close(), once; stop ends the body."""

from __future__ import annotations

import threading

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
