"""OSC plumbing: C++ encoding, a UDP sender that never stalls, a decoder and a fixed-rate sender thread.

Encoding runs in ``pyavatar._core`` (``osc_message``, ``osc_pack``,
``VmcEncoder``); :func:`parse` decodes packets for the control server (and is
checked against python-osc in the tests).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

from pyavatar._native import core
from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import Clock, MonotonicClock
from pyavatar.runtime.frames import StreamInfo
from pyavatar.worker import Worker

log = logging.getLogger(__name__)

#: Largest datagram pyavatar sends by default: below the VMC spec's "sane" 1500 and a 1500-byte MTU
#: minus IP/UDP headers (and VPN/PPPoE overhead), so bundles never fragment on a LAN.
MAX_DATAGRAM = 1200
#: Largest UDP payload over IPv4.
MAX_UDP_PAYLOAD = 65507


#: One decoded OSC argument: ``i``/``h`` int, ``f``/``d`` float, ``s`` str, ``T``/``F`` bool, ``N`` None, ``b`` bytes.
OscValue = int | float | str | bool | bytes | None


class OscError(ValueError):
    """A malformed OSC packet."""


def message(address: str, *args: float | int | str | bool) -> bytes:
    """One OSC message: float → ``f``, int → ``i``, str → ``s``, bool → ``T``/``F``."""
    return core().osc_message(address, list(args))


def pack(messages: list[bytes], max_bytes: int = MAX_DATAGRAM, bundle: bool = True) -> list[bytes]:
    """Encoded messages → datagrams: bundles of at most ``max_bytes`` in order, or one per message."""
    return core().osc_pack(messages, max_bytes, bundle)


def parse_target(text: str, default_port: int, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``:PORT`` or ``[v6addr]:PORT`` → (host, port)."""
    text = text.strip()
    host, port = default_host, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad address {text!r}")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        h, p = text.split(":")
        host, port = h or default_host, _port(p, text)
    elif text:
        host = text
    return host, port


def check_port(port: object, what: str = "port") -> int:
    """``port`` as an int in 1..65535, or ValueError naming ``what`` and the value."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{what}: port must be an integer in 1..65535, got {port!r}")
    return port


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 < int(p) < 65536:
        raise ValueError(f"bad port in {text!r}: expected 1..65535")
    return int(p)


# ---------------------------------------------------------------------- decode


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise OscError("unterminated string")
    try:
        s = data[pos:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise OscError(f"string is not UTF-8: {e}") from None
    return s, (end + 4) & ~3


def _need(data: bytes, pos: int, n: int) -> None:
    if n < 0:
        raise OscError(f"negative length {n} at offset {pos}")
    if pos + n > len(data):
        raise OscError(f"truncated packet: need {n} bytes at offset {pos}, have {len(data) - pos}")


def _message(data: bytes) -> tuple[str, list[OscValue]]:
    address, pos = _string(data, 0)
    if not address.startswith("/"):
        raise OscError(f"address must start with '/', got {address!r}")
    if pos >= len(data):
        return address, []  # no type tag string (OSC 1.0 allows it)
    tags, pos = _string(data, pos)
    if not tags.startswith(","):
        raise OscError(f"type tags must start with ',', got {tags!r}")
    args: list[OscValue] = []
    for t in tags[1:]:
        if t in "if":
            _need(data, pos, 4)
            args.append(struct.unpack_from(">i" if t == "i" else ">f", data, pos)[0])
            pos += 4
        elif t in "hd":
            _need(data, pos, 8)
            args.append(struct.unpack_from(">q" if t == "h" else ">d", data, pos)[0])
            pos += 8
        elif t == "s":
            s, pos = _string(data, pos)
            args.append(s)
        elif t in "TF":
            args.append(t == "T")
        elif t == "N":
            args.append(None)
        elif t == "b":
            _need(data, pos, 4)
            (n,) = struct.unpack_from(">i", data, pos)
            _need(data, pos + 4, n)
            args.append(bytes(data[pos + 4 : pos + 4 + n]))
            pos += 4 + ((n + 3) & ~3)
        else:
            raise OscError(f"unsupported type tag {t!r}")
    return address, args


#: Deepest bundle nesting :func:`parse` accepts.
MAX_BUNDLE_DEPTH = 8


def parse(data: bytes) -> list[tuple[str, list[OscValue]]]:
    """Every message of a packet (bundles are flattened in order) as (address, args).

    Any malformed packet raises :class:`OscError` (and nothing else): every
    length is checked against the packet before it is used.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OscError(f"packet must be bytes, got {type(data).__name__}")
    try:
        return _parse(bytes(data), 0)
    except OscError:
        raise
    except (struct.error, ValueError, IndexError, RecursionError) as e:  # a check this decoder missed
        raise OscError(f"malformed packet: {type(e).__name__}: {e}") from None


def _parse(data: bytes, depth: int) -> list[tuple[str, list[OscValue]]]:
    if depth > MAX_BUNDLE_DEPTH:
        raise OscError("bundles nested too deeply")
    if data.startswith(b"#bundle\0"):
        _need(data, 8, 8)
        pos, out = 16, []
        while pos < len(data):
            _need(data, pos, 4)
            (n,) = struct.unpack_from(">i", data, pos)
            if n <= 0 or n % 4:
                raise OscError(f"bad bundle element size {n}")
            _need(data, pos + 4, n)
            out.extend(_parse(data[pos + 4 : pos + 4 + n], depth + 1))
            pos += 4 + n
        return out
    if len(data) % 4:
        raise OscError(f"packet size {len(data)} is not a multiple of 4")
    return [_message(data)]


# ------------------------------------------------------------------ transport


class UdpSender:
    """Sends datagrams to ``host:port`` without ever blocking or raising on a missing receiver.

    The address is resolved once (an unknown host raises ValueError here).
    Send failures (no route, connection refused reported by ICMP, full
    buffers) are counted in :attr:`errors` and logged once.
    """

    def __init__(self, host: str, port: int) -> None:
        port = check_port(port, f"OSC target {host}")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise ValueError(f"cannot resolve OSC target {host}:{port}: {e}") from None
        family, _, _, _, address = infos[0]
        self.address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes] = address
        self.host, self.port = host, port
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self.sent = 0
        self.errors = 0
        self.bytes = 0

    def send(self, datagrams: list[bytes]) -> int:
        """Send each datagram; returns how many went out."""
        n = 0
        for d in datagrams:
            try:
                self._sock.sendto(d, self.address)
            except OSError as e:
                if not self.errors:
                    log.warning("OSC to %s:%s: %s (further errors only counted)", self.host, self.port, e)
                self.errors += 1
                continue
            n += 1
            self.bytes += len(d)
        self.sent += n
        return n

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class RateSender:
    """A motion sink that sends the newest frame at a fixed rate from its own thread.

    It keeps sending while no new frames arrive (receivers treat silence as
    lost tracking); before the first frame it sends :meth:`idle_frame`.
    Subclasses implement :meth:`encode` and keep each datagram within
    :attr:`max_bytes`. An exception in the thread is re-raised by :meth:`close`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        rate: float,
        *,
        clock: Clock | None = None,
        name: str = "osc",
        max_bytes: int = MAX_DATAGRAM,
    ) -> None:
        if not 1.0 <= rate <= 1000.0:
            raise ValueError(f"{name} rate must be within 1..1000 Hz, got {rate}")
        if not 64 <= max_bytes <= MAX_UDP_PAYLOAD:
            raise ValueError(f"{name} max_bytes must be within 64..{MAX_UDP_PAYLOAD}, got {max_bytes}")
        self.host, self.port, self.rate, self.name = host, check_port(port, f"{name} target {host}"), float(rate), name
        self.max_bytes = int(max_bytes)
        self.clock = clock or MonotonicClock()
        self.frames_sent = 0
        self._latest: MotionFrame | None = None
        self._worker: Worker | None = None
        self._udp: UdpSender | None = None
        self._t0 = 0
        self.info: StreamInfo | None = None

    @property
    def send_errors(self) -> int:
        """Datagrams that could not be sent."""
        return self._udp.errors if self._udp else 0

    def idle_frame(self) -> MotionFrame | None:
        """What to send before the first frame (None: nothing)."""
        return None

    def encode(self, frame: MotionFrame | None, t: float) -> list[bytes]:
        """Datagrams for one tick at sender time ``t`` seconds."""
        raise NotImplementedError

    def start(self, info: StreamInfo) -> None:
        """Open the socket (resolving the target) and start sending."""
        self.info = info
        self._udp = UdpSender(self.host, self.port)
        self._t0 = self.clock.now_ns()
        stop = threading.Event()
        self._worker = Worker(self.name, lambda: self._run(stop), stop=stop)
        self._worker.start()

    def write_motion(self, frame: MotionFrame) -> None:
        """Make ``frame`` the one the next ticks send (never blocks)."""
        self._latest = frame

    def send_now(self, frame: MotionFrame | None = None) -> int:
        """Encode and send one tick immediately (also used by the thread)."""
        assert self._udp is not None, "start() first"
        t = (self.clock.now_ns() - self._t0) / 1e9
        sent = self._udp.send(self.encode(frame if frame is not None else self._latest or self.idle_frame(), t))
        self.frames_sent += 1
        return sent

    def _run(self, stop: threading.Event) -> None:
        period = 1e9 / self.rate
        k, t0 = 0, self.clock.now_ns()
        while not stop.is_set():
            self.send_now()
            k += 1
            due = t0 + k * period
            now = self.clock.now_ns()
            if now - due > period:  # fell behind (suspended?): restart the grid instead of bursting
                k, t0 = 0, now
                due = now + period
            if not self.clock.sleep_until(round(due), stop):
                break

    def close(self) -> None:
        """Stop the thread, release the socket and re-raise what the thread raised."""
        worker, self._worker = self._worker, None
        try:
            if worker is not None:
                worker.close()
        finally:
            if self._udp is not None:
                self._udp.close()
                self._udp = None
