"""A background thread that keeps the exception its body raised and hands it back.

Every part of the package that does work in a thread of its own runs it in a
:class:`Worker`: the OSC/VMC senders, the VTube Studio client, the preview
window and the control server (``close()`` re-raises what the thread raised),
the camera reader (:mod:`pyavatar.video.capture`) and the live window worker of
the learned motion sources (:mod:`pyavatar.motion.sources.base`), which hand the
error to their reader through :attr:`Worker.error`. It imports nothing from
pyavatar, so every layer may use it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Worker:
    """Runs ``body()`` in a daemon thread named ``pyavatar-<name>``.

    Args:
        name: thread name suffix (``pyavatar-`` threads are what the tests look for after a stop).
        body: the thread's work; it should return soon after :attr:`stop` is set.
        stop: the event :meth:`close` sets (default: a new one).
        join_timeout: seconds :meth:`close` waits for the thread.
        on_exit: called in the thread once the body has ended, when :attr:`error` already holds what it
            raised (e.g. to wake a reader waiting for data); it must not raise.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], object],
        *,
        stop: threading.Event | None = None,
        join_timeout: float = 5.0,
        on_exit: Callable[[], object] | None = None,
    ) -> None:
        self.name = f"pyavatar-{name}"
        self.stop = stop if stop is not None else threading.Event()
        self.join_timeout = join_timeout
        self._body = body
        self._on_exit = on_exit
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._body()
        except BaseException as e:  # kept and handed back by error / join() / close()
            log.debug("%s failed", self.name, exc_info=True)
            self._error = e
        finally:
            if self._on_exit is not None:
                self._on_exit()

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """What the body raised (None while it runs or when it returned normally), until :meth:`join`."""
        return self._error

    def join(self) -> BaseException | None:
        """Set :attr:`stop`, wait for the thread and return (once) what the body raised."""
        self.stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self.join_timeout)
            if thread.is_alive():
                log.warning("%s did not finish within %.0f s", self.name, self.join_timeout)
        err, self._error = self._error, None
        return err

    def close(self) -> None:
        """Set :attr:`stop`, wait for the thread and re-raise what the body raised (idempotent)."""
        err = self.join()
        if err is not None:
            raise err
