"""Slack's Socket Mode end for tests: a WebSocket server on 127.0.0.1 that the real slack_sdk
Socket Mode client connects to (via the fake Web API's apps.connections.open). It sends the
client envelopes, as Slack does, and records the acks that come back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from bot.server import start


class FakeSocketMode:
    def __init__(self) -> None:
        self.url = ""
        self.acks: dict[str, dict[str, Any]] = {}
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeSocketMode:
        app = web.Application()
        app.router.add_get("/link", self._serve)
        self._runner, port = await start(app, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{port}/link"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1})
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                self.acks[ack["envelope_id"]] = ack
        return socket

    async def send(self, envelope_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an envelope (`slash_commands`, `interactive`, `events_api`) and wait for its ack."""
        await asyncio.wait_for(self.connected.wait(), 15)
        assert self._socket is not None
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
        }
        await self._socket.send_json(envelope)
        for _ in range(300):
            if envelope_id in self.acks:
                return self.acks[envelope_id]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no ack for envelope {envelope_id} within 3 s")
