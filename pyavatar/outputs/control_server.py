"""OSC control input: ``/pyavatar/set/*`` messages become control events.

Listens on UDP (127.0.0.1:39541 by default, so only local programs can steer
the avatar; bind another address on purpose). Every message of a packet or
bundle is handled in order; a malformed packet, an unknown address or a value
the handler rejects is counted in :attr:`ControlServer.malformed` and ignored,
and nothing a packet contains can end the receiving thread (a handler that
fails with another exception is counted in :attr:`ControlServer.handler_errors`).
Addresses and arguments: :func:`pyavatar.runtime.control.from_osc`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from pyavatar.outputs.osc import OscError, parse
from pyavatar.runtime.control import ControlEvent, from_osc
from pyavatar.worker import Worker

log = logging.getLogger(__name__)

DEFAULT_PORT = 39541


class ControlServer:
    """Receives control messages and passes each event to ``handler`` (which may raise ValueError to reject it).

    Use as a context manager or call :meth:`start` / :meth:`close`.
    """

    def __init__(
        self, handler: Callable[[ControlEvent], None], host: str = "127.0.0.1", port: int = DEFAULT_PORT
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.received = 0
        self.applied = 0
        self.malformed = 0
        self.handler_errors = 0
        self.last_error = ""
        self._sock: socket.socket | None = None
        self._worker: Worker | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) (the real port when 0 was asked for)."""
        if self._sock is None:
            return self.host, self.port
        name = self._sock.getsockname()
        return name[0], name[1]

    def start(self) -> None:
        """Bind and start the receiving thread (raises OSError naming the address if the port is taken)."""
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(addr)
        except OSError as e:
            sock.close()
            raise OSError(f"control server cannot listen on {self.host}:{self.port}: {e}") from e
        sock.settimeout(0.1)
        self._sock = sock
        stop = threading.Event()
        self._worker = Worker("control", lambda: self._run(sock, stop), stop=stop)
        self._worker.start()

    def _reject(self, why: str) -> None:
        self.malformed += 1
        self.last_error = why
        log.debug("control message ignored: %s", why)

    def handle_packet(self, data: bytes) -> None:
        """Apply every control message in ``data`` (malformed parts counted and ignored)."""
        self.received += 1
        try:
            messages = parse(data)
        except OscError as e:
            self._reject(f"malformed packet: {e}")
            return
        for address, args in messages:
            try:
                event = from_osc(address, args)
                self.handler(event)
            except ValueError as e:
                self._reject(f"{address}: {e}")
            except Exception as e:  # a handler bug must not end the server: counted, logged, ignored
                self.handler_errors += 1
                self._reject(f"{address}: handler failed: {type(e).__name__}: {e}")
                log.warning("control message %s: handler failed", address, exc_info=True)
            else:
                self.applied += 1

    def _run(self, sock: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError as e:
                if stop.is_set():
                    return
                self._reject(f"receive failed: {e}")  # e.g. an ICMP error reported on the socket
                stop.wait(0.01)
                continue
            try:
                self.handle_packet(data)
            except Exception as e:  # handle_packet counts every known failure; this is a last guard
                self.handler_errors += 1
                self._reject(f"packet failed: {type(e).__name__}: {e}")
                log.warning("control packet failed", exc_info=True)

    @property
    def alive(self) -> bool:
        """Whether the receiving thread is running."""
        return self._worker is not None and self._worker.alive

    def close(self) -> None:
        """Stop receiving and release the port (idempotent; never raises: a failure of the thread is logged)."""
        worker, self._worker = self._worker, None
        err = worker.join() if worker is not None else None
        if err is not None:
            log.error("control server %s:%s failed: %r", self.host, self.port, err)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
