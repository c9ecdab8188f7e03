"""A python-osc UDP server on loopback that records every message with its arrival time."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer


class Receiver:
    """Collects (time, address, args) and the size of every datagram; use as a context manager."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str, tuple[Any, ...]]] = []
        self.sizes: list[int] = []
        self.lock = threading.Lock()
        d = Dispatcher(strict_timing=False)
        d.set_default_handler(self._on_message)
        receiver = self

        class _Server(ThreadingOSCUDPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                receiver.sizes.append(len(request[0]))
                return super().verify_request(request, client_address)

        self.server = _Server(("127.0.0.1", 0), d)
        # a deep receive buffer: on a loaded machine a burst of datagrams must wait, not be dropped by the kernel
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _on_message(self, address: str, *args: Any) -> None:
        with self.lock:
            self.messages.append((time.monotonic(), address, args))

    def of(self, address: str) -> list[tuple[float, tuple[Any, ...]]]:
        with self.lock:
            return [(t, a) for t, addr, a in self.messages if addr == address]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
