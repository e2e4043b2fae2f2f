"""Responses that misbehave on the connection itself: stalled, truncated or reset.

They need the connection's asyncio transport, which `server.TransportExposingProtocol` puts
into the ASGI scope under `scope["extensions"][TRANSPORT_EXTENSION]`.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cranium_etl.sandbox.state import REQUEST_NOTES_EXTENSION

TRANSPORT_EXTENSION = "cranium_sandbox.transport"
_DISCONNECT_WAIT = 5.0  # seconds to wait for the server to notice a closed connection


def connection_transport(scope: Scope) -> asyncio.Transport:
    try:
        return scope["extensions"][TRANSPORT_EXTENSION]
    except KeyError as error:
        raise RuntimeError(
            "the connection transport is not in the ASGI scope; serve the app with "
            "cranium_etl.sandbox.server, which exposes it"
        ) from error


async def _wait_for_disconnect(receive: Receive) -> None:
    """Consume receive() until the server reports the connection as gone."""
    async with asyncio.timeout(_DISCONNECT_WAIT):
        while (await receive())["type"] != "http.disconnect":
            pass


class SlowBodyResponse(Response):
    """Sends the headers and the first half of the body, stalls `delay` seconds, then ends."""

    def __init__(self, body: bytes, status_code: int, headers: dict[str, str], delay: float):
        super().__init__(body, status_code, headers, media_type="application/json")
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        half = len(self.body) // 2
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body[:half], "more_body": True})
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.body", "body": self.body[half:]})


class TruncatedResponse(Response):
    """Declares the full Content-Length, sends half of the body and closes the connection."""

    def __init__(self, body: bytes, status_code: int, headers: dict[str, str]):
        super().__init__(body, status_code, headers, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = connection_transport(scope)
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2],
                    "more_body": True})  # fmt: skip
        # close() flushes the buffered half body (and the TLS close_notify) before closing.
        transport.close()
        await _wait_for_disconnect(receive)


class ConnectionResetResponse(Response):
    """Drops the connection with a TCP RST before any status line is sent.

    Through TLS, Python's ssl module (3.11, OpenSSL 3) reports the reset as an unexpected EOF,
    so requests raises ConnectionError (RemoteDisconnected) rather than ConnectionResetError.
    """

    def __init__(self) -> None:
        super().__init__(b"", 200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = connection_transport(scope)
        notes = scope.get("extensions", {}).get(REQUEST_NOTES_EXTENSION, {})
        if "record_no_response" in notes:
            notes["record_no_response"]()
        raw_socket = transport.get_extra_info("socket")
        if raw_socket is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await _wait_for_disconnect(receive)
