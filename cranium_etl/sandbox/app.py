"""ASGI application of the sandbox: routes and a recorder for stats and the request log."""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cranium_etl.sandbox.bom_endpoint import BomEndpoint
from cranium_etl.sandbox.state import REQUEST_NOTES_EXTENSION, SandboxState, error_response
from cranium_etl.sandbox.stats import RequestLogEntry
from cranium_etl.sandbox.token_endpoint import TokenEndpoint

logger = logging.getLogger("cranium_etl.sandbox")


async def _http_error(request: Request, exc: Exception):
    assert isinstance(exc, HTTPException)
    messages = {404: "Resource not found.", 405: "Method not allowed."}
    message = messages.get(exc.status_code, exc.detail)
    return error_response(exc.status_code, message, dict(exc.headers or {}))


class RequestRecorder:
    """Counts each request, records its status before the first byte is sent, logs one line.

    The log line and the stats contain the method, the path and the status, never a header
    value, a query string or a body, so no token or secret can reach them.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        config = state.config
        self._bom_paths = {config.bom_path, *config.bom_alias_paths}

    def _endpoint(self, path: str) -> str:
        if path == self.state.config.token_path:
            return "token"
        if path in self._bom_paths:
            return "bom"
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        method, path = scope["method"], scope["path"]
        endpoint = self._endpoint(path)
        notes: dict = {}
        scope.setdefault("extensions", {})[REQUEST_NOTES_EXTENSION] = notes
        arrived, started = time.time(), time.monotonic()
        self.state.stats.record_arrival(endpoint)
        status: int | None = None

        recorded = False

        def record(code: int | None) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            entry = RequestLogEntry(method, path, endpoint, code, notes.get("client_auth"), arrived)
            self.state.stats.record_response(entry)

        # A response that drops the connection records itself first, so the entry is in the
        # log before the client sees the connection close.
        notes["record_no_response"] = lambda: record(None)

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                record(status)
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if status is None:
                record(None)
            elapsed_ms = (time.monotonic() - started) * 1000
            outcome = str(status) if status is not None else "connection closed without response"
            details = [notes["detail"]] if "detail" in notes else []
            if "fault" in notes:
                details.append(f"fault {notes['fault']}")
            suffix = f" ({'; '.join(details)})" if details else ""
            logger.info("%s %s -> %s in %.0f ms%s", method, path, outcome, elapsed_ms, suffix)


def create_app(state: SandboxState) -> ASGIApp:
    """Return the sandbox ASGI app serving the token endpoint and the BOM endpoints."""
    config = state.config
    token = TokenEndpoint(state)
    boms = BomEndpoint(state)
    routes = [Route(config.token_path, token.handle, methods=["POST"])]
    for path in (config.bom_path, *config.bom_alias_paths):
        routes.append(Route(path, boms.handle, methods=["GET"]))

    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return RequestRecorder(app, state)
