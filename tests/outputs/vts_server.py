"""A local VTube Studio plugin-API server for tests, written from DenchiSoft/VTubeStudio's API README.

It answers the requests pyavatar uses with the documented message shapes and
error IDs: APIStateRequest, AuthenticationTokenRequest (granted, or errorID 50
when ``deny``), AuthenticationRequest (``authenticated`` true only for a
token it issued), InputParameterListRequest, InjectParameterDataRequest
(453 for an unknown parameter, 451 for a value outside ±1e6, 455 for an
unknown mode, 8 before authentication), HotkeyTriggerRequest (202 for an
unknown hotkey) and ExpressionActivationRequest. Everything received is
recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from pyavatar.face.mappings import VTS_NAMES


class FakeVTubeStudio:
    """Run with ``start()``/``stop()`` (restartable on the same port); inspect :attr:`received`."""

    def __init__(
        self, *, deny: bool = False, parameters: tuple[str, ...] = VTS_NAMES, hotkeys: tuple[str, ...] = ("Smile",)
    ) -> None:
        self.deny = deny
        self.parameters = parameters
        self.hotkeys = hotkeys
        self.tokens: set[str] = set()
        self.received: list[tuple[float, str, dict]] = []
        self.errors: list[int] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def of(self, kind: str) -> list[tuple[float, dict]]:
        return [(t, d) for t, k, d in list(self.received) if k == kind]

    def start(self) -> FakeVTubeStudio:
        ready = threading.Event()

        async def main() -> None:
            self._stopped = asyncio.Event()
            async with serve(self._handle, "127.0.0.1", self.port) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await self._stopped.wait()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(5), "fake VTube Studio did not start"
        return self

    def stop(self) -> None:
        """Close the server and every connection (idempotent)."""
        if self._thread is None:
            return
        assert self._loop is not None and self._stopped is not None
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(5)
        self._thread = None

    async def _handle(self, ws: Any) -> None:
        try:
            await self._serve(ws)
        except ConnectionClosed:  # the client went away (e.g. stopped after a refusal)
            pass

    async def _serve(self, ws: Any) -> None:
        authed = False
        async for raw in ws:
            msg = json.loads(raw)
            kind, data = msg.get("messageType", ""), msg.get("data") or {}
            self.received.append((time.monotonic(), kind, data))
            if msg.get("apiName") != "VTubeStudioPublicAPI" or msg.get("apiVersion") != "1.0":
                await self._error(ws, msg, 3, "apiName or apiVersion invalid")
                continue
            if kind == "APIStateRequest":
                await self._reply(
                    ws,
                    msg,
                    "APIStateResponse",
                    {"active": True, "vTubeStudioVersion": "1.28.0", "currentSessionAuthenticated": authed},
                )
            elif kind == "AuthenticationTokenRequest":
                if not 3 <= len(data.get("pluginName", "")) <= 32:
                    await self._error(ws, msg, 52, "pluginName invalid")
                elif self.deny:
                    await self._error(ws, msg, 50, "User has denied API access for your plugin.")
                else:
                    token = uuid.uuid4().hex
                    self.tokens.add(token)
                    await self._reply(ws, msg, "AuthenticationTokenResponse", {"authenticationToken": token})
            elif kind == "AuthenticationRequest":
                if "authenticationToken" not in data:
                    await self._error(ws, msg, 100, "token missing")
                    continue
                authed = data["authenticationToken"] in self.tokens
                reason = "Token valid." if authed else "Token invalid."
                await self._reply(ws, msg, "AuthenticationResponse", {"authenticated": authed, "reason": reason})
            elif not authed:
                await self._error(ws, msg, 8, "This request requires authentication.")
            elif kind == "InputParameterListRequest":
                params = [
                    {"name": n, "addedBy": "VTube Studio", "value": 0, "min": -1, "max": 1, "defaultValue": 0}
                    for n in self.parameters
                ]
                await self._reply(
                    ws,
                    msg,
                    "InputParameterListResponse",
                    {
                        "modelLoaded": True,
                        "modelName": "test",
                        "modelID": "id",
                        "customParameters": [],
                        "defaultParameters": params,
                    },
                )
            elif kind == "InjectParameterDataRequest":
                await self._inject(ws, msg, data)
            elif kind == "HotkeyTriggerRequest":
                if data.get("hotkeyID") in self.hotkeys:
                    await self._reply(ws, msg, "HotkeyTriggerResponse", {"hotkeyID": data["hotkeyID"]})
                else:
                    await self._error(ws, msg, 202, "hotkey not found")
            elif kind == "ExpressionActivationRequest":
                if str(data.get("expressionFile", "")).endswith(".exp3.json"):
                    await self._reply(ws, msg, "ExpressionActivationResponse", {})
                else:
                    await self._error(ws, msg, 500, "expression file invalid")
            else:
                await self._error(ws, msg, 4, f"unknown messageType {kind}")

    async def _inject(self, ws: Any, msg: dict, data: dict) -> None:
        values = data.get("parameterValues") or []
        if not values:
            return await self._error(ws, msg, 450, "no data")
        if data.get("mode", "set") not in ("set", "add"):
            return await self._error(ws, msg, 455, "mode unknown")
        for v in values:
            if v.get("id") not in self.parameters:
                return await self._error(ws, msg, 453, f"parameter {v.get('id')} not found")
            if not isinstance(v.get("value"), (int, float)) or abs(v["value"]) > 1e6:
                return await self._error(ws, msg, 451, "value invalid")
        await self._reply(ws, msg, "InjectParameterDataResponse", {})

    async def _reply(self, ws: Any, msg: dict, kind: str, data: dict) -> None:
        await ws.send(
            json.dumps(
                {
                    "apiName": "VTubeStudioPublicAPI",
                    "apiVersion": "1.0",
                    "timestamp": int(time.time() * 1000),
                    "messageType": kind,
                    "requestID": msg.get("requestID", ""),
                    "data": data,
                }
            )
        )

    async def _error(self, ws: Any, msg: dict, error_id: int, text: str) -> None:
        self.errors.append(error_id)
        await self._reply(ws, msg, "APIError", {"errorID": error_id, "message": text})
