"""VTube Studio plugin API client: drives a Live2D model's default input parameters over WebSocket.

Talks to VTube Studio's public API (``ws://127.0.0.1:8001`` by default; the
user turns on "Allow Plugin API access" in VTS's settings):

1. ``AuthenticationRequest`` with the token stored in the user's config folder
   (:func:`default_token_path`); without one (or when VTS rejects it)
   ``AuthenticationTokenRequest`` asks the user in a VTS popup, and the new
   token is stored (atomically, mode 600) for the next session.
2. ``InputParameterListRequest`` once: parameters this VTS does not know are
   left out (and named in the log) instead of failing every request.
3. ``InjectParameterDataRequest`` (mode ``set``, ``faceFound`` true) with the
   values of :func:`pyavatar.face.mappings.to_vtube_studio`, at the output
   rate; the newest frame is re-sent while nothing new arrives, so VTS's
   one-second keep-alive never lapses.
4. Emotion presets trigger a hotkey (``HotkeyTriggerRequest`` by name or ID;
   toggled again when the emotion ends) or an expression file
   (``ExpressionActivationRequest`` for ``*.exp3.json``).

When VTS closes or restarts, the client reconnects with exponential back-off
(0.5 s doubling to 10 s). A user who declines the plugin (API error 50) stops
it with :class:`VTubeStudioDenied`, logged at once and raised by
:meth:`VTubeStudioSink.close`. Nothing received is executed: responses are
JSON read for known fields only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pyavatar.face import mappings as fm
from pyavatar.face.params import NAMES, FaceParams
from pyavatar.packets import MotionFrame
from pyavatar.runtime.frames import StreamInfo
from pyavatar.userdirs import config_dir
from pyavatar.worker import Worker

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8001"
PLUGIN_NAME = "pyavatar"
PLUGIN_DEVELOPER = "pyavatar project"
API = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0"}
#: API error IDs pyavatar reacts to (VTube Studio's Files/ErrorID.cs).
ERR_API_OFF, ERR_DENIED, ERR_PARAM_UNKNOWN, ERR_PARAM_TAKEN = 1, 50, 453, 454
BACKOFF = (0.5, 10.0)  # first and largest reconnect delay, seconds
MAX_MESSAGE = 4 << 20  # largest response accepted (parameter lists are tens of kB)

#: Sends a request whose answer matters only when it is an error: ``await send(message_type, data)``.
_Send = Callable[[str, dict[str, Any]], Awaitable[None]]


class _Request(Protocol):
    """Sends a request and returns the ``data`` of its answer (raises :class:`ApiError` for an APIError)."""

    async def __call__(self, kind: str, data: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The answer to ``kind`` with ``data``, within ``timeout`` seconds."""
        ...


class VTubeStudioError(ConnectionError):
    """VTube Studio refused the connection or a request; the message says what the user should do."""


class VTubeStudioDenied(VTubeStudioError):
    """The user declined (or revoked) the plugin in VTube Studio."""


class ApiError(VTubeStudioError):
    """An ``APIError`` response."""

    def __init__(self, error_id: int, text: str, request: str) -> None:
        super().__init__(f"VTube Studio error {error_id} on {request}: {text}")
        self.error_id = error_id


def default_token_path() -> Path:
    """Where VTube Studio tokens are kept: ``<config dir>/vtube_studio_tokens.json``."""
    return config_dir() / "vtube_studio_tokens.json"


class TokenStore:
    """VTube Studio authentication tokens by API URL, in one JSON file written atomically (mode 600)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_token_path()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("VTube Studio token file %s is unreadable (%s); asking for a new token", self.path, e)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and _valid_token(v)}

    def load(self, url: str) -> str | None:
        """The token stored for ``url``, if any."""
        return self._read().get(url)

    def save(self, url: str, token: str | None) -> None:
        """Store (or with None forget) the token for ``url``."""
        data = self._read()
        if token is None:
            data.pop(url, None)
        else:
            data[url] = token
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".vts-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _valid_token(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 64 and v.isascii() and v.isprintable()


def parameter_values(frame: MotionFrame, names: Sequence[str], invert: tuple[bool, bool, bool]) -> list[dict]:
    """``parameterValues`` of one InjectParameterDataRequest for ``frame``."""
    params = FaceParams.from_array(frame.params)
    vts = fm.to_vtube_studio(params, np.asarray(frame.visemes, np.float32).reshape(1, -1), invert=invert)
    return [{"id": n, "value": round(float(vts[n][0]), 5)} for n in names]


class VTubeStudioSink:
    """A motion sink that drives VTube Studio through its plugin API (see the module docstring).

    Args:
        url: the VTS API address (``ws://HOST:PORT``).
        rate: injections per second (1..120; VTS needs one at least every second).
        parameters: default input parameters to drive (default: every name of
            :data:`pyavatar.face.mappings.VTS_NAMES`).
        hotkeys: emotion name → VTS hotkey name or ID, or an ``*.exp3.json`` expression file.
        emotion_threshold: intensity from which an emotion's hotkey is triggered.
        invert: flip FaceAngleX/Y/Z for models rigged the other way.
        token_path: token file (default: :func:`default_token_path`).
        plugin_name, plugin_developer: shown in VTS's permission popup (3..32 characters).
        auth_timeout: seconds to wait for the user to answer the popup.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        rate: float = 30.0,
        parameters: Sequence[str] | None = None,
        hotkeys: Mapping[str, str] | None = None,
        emotion_threshold: float = 0.3,
        invert: tuple[bool, bool, bool] = (False, False, False),
        token_path: str | Path | None = None,
        plugin_name: str = PLUGIN_NAME,
        plugin_developer: str = PLUGIN_DEVELOPER,
        auth_timeout: float = 120.0,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"VTube Studio URL must start with ws:// or wss://, got {url!r}")
        if not 1.0 <= rate <= 120.0:
            raise ValueError(f"VTube Studio rate must be within 1..120 Hz (VTS needs >= 1/s), got {rate}")
        names = list(fm.VTS_NAMES if parameters is None else parameters)
        unknown = sorted(set(names) - set(fm.VTS_NAMES))
        if unknown:
            raise ValueError(f"VTube Studio parameters pyavatar cannot drive: {unknown}; known: {list(fm.VTS_NAMES)}")
        for label, text in (("plugin_name", plugin_name), ("plugin_developer", plugin_developer)):
            if not 3 <= len(text) <= 32:
                raise ValueError(f"VTube Studio {label} must be 3..32 characters, got {text!r}")
        self.hotkeys = dict(hotkeys or {})
        bad = sorted(set(self.hotkeys) - {"neutral", *fm.VRM0_EMOTIONS})
        if bad:
            raise ValueError(f"hotkeys for unknown emotions {bad}; emotions: {sorted(fm.VRM0_EMOTIONS)}")
        self.url, self.rate, self.parameters = url, float(rate), names
        self.emotion_threshold, self.invert = emotion_threshold, (bool(invert[0]), bool(invert[1]), bool(invert[2]))
        self.tokens = TokenStore(token_path)
        self.plugin = {"pluginName": plugin_name, "pluginDeveloper": plugin_developer}
        self.auth_timeout, self.backoff = auth_timeout, backoff
        self.connects = 0  # successful authenticated sessions
        self.injected = 0  # InjectParameterDataRequests sent
        self.triggered: list[str] = []  # hotkeys / expressions triggered, in order
        self.dropped: list[str] = []  # parameters this VTS does not know
        self.last_error: str | None = None
        self.connected = threading.Event()
        self._latest: MotionFrame | None = None
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self._ids = itertools.count(1)
        self._active: str | None = None  # emotion whose hotkey is on

    # ------------------------------------------------------------------ sink API

    def start(self, info: StreamInfo) -> None:
        """Start the client thread (it connects, and reconnects, in the background)."""
        try:
            import websockets  # noqa: F401
        except ImportError as e:
            hint = "pip install 'pyavatar[vts]'"
            raise VTubeStudioError(f"the VTube Studio output needs websockets: {hint} ({e})") from e
        self._worker = Worker("vtube-studio", lambda: asyncio.run(self._main()), stop=self._stop, join_timeout=10.0)
        self._worker.start()

    def describe(self) -> str:
        """One line for a start-up banner."""
        return f"VTube Studio plugin API at {self.url}, {len(self.parameters)} parameters at {self.rate:g} Hz"

    def write_motion(self, frame: MotionFrame) -> None:
        """Make ``frame`` the one the next injections send (never blocks)."""
        self._latest = frame

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the client (e.g. :class:`VTubeStudioDenied`), if any."""
        return self._worker.error if self._worker is not None else None

    def close(self) -> None:
        """Disconnect and re-raise what stopped the client."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
        else:
            self._stop.set()

    # ------------------------------------------------------------------ client

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False when stopped."""
        end = asyncio.get_running_loop().time() + seconds
        while not self._stop.is_set():
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.05))
        return False

    async def _main(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

        delay, warned = self.backoff[0], False
        while not self._stop.is_set():
            try:
                async with connect(self.url, open_timeout=5.0, max_size=MAX_MESSAGE, proxy=None) as ws:
                    await self._session(ws)
                    delay, warned = self.backoff[0], False
            except VTubeStudioDenied as e:
                log.error("%s", e)
                raise
            except InvalidURI as e:
                raise VTubeStudioError(f"bad VTube Studio URL {self.url!r}: {e}") from None
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException, VTubeStudioError) as e:
                self.connected.clear()
                self.last_error = f"{type(e).__name__}: {e}"
                if not self._stop.is_set():
                    (log.debug if warned else log.warning)(
                        "VTube Studio at %s: %s; retrying in %.1f s (is VTS running with 'Allow Plugin API access' "
                        "on, and is the port right?)",
                        self.url,
                        self.last_error,
                        delay,
                    )
                    warned = True
            if not await self._sleep(delay):
                break
            delay = min(delay * 2, self.backoff[1])
        self.connected.clear()

    async def _session(self, ws: ClientConnection) -> None:
        pending: dict[str, asyncio.Future] = {}
        revoked = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                fut = pending.pop(str(msg.get("requestID")), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                elif msg.get("messageType") == "APIError":
                    self._background_error(msg.get("data") or {}, revoked)

        task = asyncio.create_task(reader())

        async def send(kind: str, data: dict[str, Any]) -> None:
            """A request whose answer only matters if it is an error (the reader logs those)."""
            rid = f"pyavatar-{next(self._ids)}"
            await ws.send(json.dumps({**API, "requestID": rid, "messageType": kind, "data": data}))

        async def request(kind: str, data: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
            rid = f"pyavatar-{next(self._ids)}"
            fut = asyncio.get_running_loop().create_future()
            pending[rid] = fut
            await ws.send(json.dumps({**API, "requestID": rid, "messageType": kind, "data": data or {}}))
            done, _ = await asyncio.wait({fut, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if fut not in done:
                pending.pop(rid, None)
                if task in done:
                    raise ConnectionError(f"VTube Studio closed the connection during {kind}")
                raise TimeoutError(f"VTube Studio did not answer {kind} within {timeout:g} s")
            msg = fut.result()
            body = msg.get("data") if isinstance(msg.get("data"), dict) else {}
            if msg.get("messageType") == "APIError":
                raise ApiError(int(body.get("errorID", -1)), str(body.get("message", "")), kind)
            return body

        self._active = None  # a new VTS session starts with no expression of ours on
        try:
            await self._authenticate(request)
            await self._select_parameters(request)
            self.connects += 1
            self.connected.set()
            log.info("VTube Studio: connected to %s, driving %d parameters", self.url, len(self.parameters))
            await self._stream(send, task, revoked)
        finally:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the connection error is reported by the caller
            task.cancel()
            self.connected.clear()

    def _background_error(self, data: dict, revoked: asyncio.Event) -> None:
        """An APIError for a request nobody awaits (injections)."""
        eid, text = data.get("errorID"), str(data.get("message", ""))[:300]
        self.last_error = f"VTube Studio error {eid}: {text}"
        if eid == ERR_DENIED:
            revoked.set()
        elif eid == ERR_PARAM_TAKEN:
            log.error(
                "VTube Studio: another plugin already sets one of pyavatar's parameters (%s); stop that plugin "
                "or pass parameters=[...] without it",
                text,
            )
        else:
            log.warning("%s", self.last_error)

    async def _authenticate(self, request: _Request) -> None:
        token = self.tokens.load(self.url)
        if token is not None:
            body = await request("AuthenticationRequest", {**self.plugin, "authenticationToken": token})
            if body.get("authenticated") is True:
                return
            log.info("VTube Studio rejected the stored token (%s); asking the user again", body.get("reason", ""))
            self.tokens.save(self.url, None)
        log.warning("VTube Studio: allow the plugin %r in the popup inside VTube Studio", self.plugin["pluginName"])
        try:
            body = await request("AuthenticationTokenRequest", dict(self.plugin), timeout=self.auth_timeout)
        except ApiError as e:
            if e.error_id == ERR_DENIED:
                raise VTubeStudioDenied(
                    f"VTube Studio at {self.url}: the user declined the plugin {self.plugin['pluginName']!r} "
                    "(API error 50). To allow it, restart pyavatar and click 'Allow' in VTube Studio's popup; a "
                    "plugin allowed earlier can be re-enabled under VTS settings > Plugins."
                ) from None
            if e.error_id == ERR_API_OFF:
                raise VTubeStudioError(
                    f"VTube Studio at {self.url}: the plugin API is off; turn on 'Allow Plugin "
                    "API access' in VTS's settings"
                ) from None
            raise
        token = body.get("authenticationToken")
        if not _valid_token(token):
            raise VTubeStudioError(f"VTube Studio at {self.url} sent an invalid token {token!r}")
        self.tokens.save(self.url, token)
        body = await request("AuthenticationRequest", {**self.plugin, "authenticationToken": token})
        if body.get("authenticated") is not True:
            raise VTubeStudioError(f"VTube Studio at {self.url} rejected a fresh token: {body.get('reason', '')}")

    async def _select_parameters(self, request: _Request) -> None:
        body = await request("InputParameterListRequest")
        known = {
            p.get("name")
            for key in ("defaultParameters", "customParameters")
            for p in body.get(key) or []
            if isinstance(p, dict)
        }
        self.dropped = [n for n in self.parameters if n not in known]
        if self.dropped:
            log.warning("VTube Studio at %s has no parameter(s) %s; not sending them", self.url, self.dropped)

    async def _stream(self, send: _Send, reader: asyncio.Task[None], revoked: asyncio.Event) -> None:
        names = [n for n in self.parameters if n not in self.dropped]
        loop = asyncio.get_running_loop()
        period, due = 1.0 / self.rate, loop.time()
        while not self._stop.is_set():
            if reader.done():
                raise ConnectionError("VTube Studio closed the connection")
            if revoked.is_set():
                self.tokens.save(self.url, None)
                raise VTubeStudioError("VTube Studio revoked pyavatar's access; asking again")
            frame = self._latest or _idle_frame(self.rate)
            data = {"faceFound": True, "mode": "set", "parameterValues": parameter_values(frame, names, self.invert)}
            await send("InjectParameterDataRequest", data)
            self.injected += 1
            await self._emotion(send, frame)
            due += period
            now = loop.time()
            if now - due > period:  # fell behind: restart the grid instead of bursting
                due = now + period
            await asyncio.sleep(max(0.0, due - now))

    async def _emotion(self, send: _Send, frame: MotionFrame) -> None:
        """Switch hotkeys/expressions when the active emotion changes (errors come back through the reader)."""
        want = frame.emotion if frame.intensity >= self.emotion_threshold and frame.emotion in self.hotkeys else None
        if want == self._active:
            return
        if self._active is not None:
            await self._trigger(send, self.hotkeys[self._active], on=False)
        if want is not None:
            await self._trigger(send, self.hotkeys[want], on=True)
        self._active = want

    async def _trigger(self, send: _Send, target: str, *, on: bool) -> None:
        if target.endswith(".exp3.json"):
            await send("ExpressionActivationRequest", {"expressionFile": target, "active": on, "fadeTime": 0.25})
        else:  # a toggle hotkey: the same trigger turns it on and off
            await send("HotkeyTriggerRequest", {"hotkeyID": target})
        self.triggered.append(f"{target}:{'on' if on else 'off'}")


def _idle_frame(rate: float) -> MotionFrame:
    return MotionFrame(-1, 0, rate, -1, np.zeros(len(NAMES), np.float32), np.zeros(5, np.float32))
