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

log = logging.getLogger(__name__)

DEFAULT_PORT = 39541


class ControlServer:
    """Receives control messages and passes each event to ``handler`` (which may raise ValueError to reject it).

    Use as a context manager or call :meth:`start` / :meth:`close`.
    """

    def __init__(self, handler: Callable[[ControlEvent], None], host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT) -> None:  # fmt: skip
        self.handler = handler
        self.host = host
        self.port = port
        self.received = 0
        self.applied = 0
        self.malformed = 0
        self.handler_errors = 0
        self.last_error = ""
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

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
        self._thread = threading.Thread(target=self._run, name="pyavatar-control", daemon=True)
        self._thread.start()

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

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError as e:
                if self._stop.is_set():
                    return
                self._reject(f"receive failed: {e}")  # e.g. an ICMP error reported on the socket
                self._stop.wait(0.01)
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
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop receiving and release the port (idempotent; never raises)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
