"""Components one sandbox instance shares between its endpoints and its owner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from cranium_etl.sandbox.auth import TokenStore
from cranium_etl.sandbox.config import SandboxConfig
from cranium_etl.sandbox.cursor import CursorCodec
from cranium_etl.sandbox.faults import FaultPlan
from cranium_etl.sandbox.ratelimit import FixedWindowLimiter
from cranium_etl.sandbox.stats import SandboxStats
from cranium_etl.sandbox.tenant import Tenant

# ASGI scope extension in which the request recorder and the endpoints share per-request notes.
REQUEST_NOTES_EXTENSION = "cranium_sandbox.request_notes"


@dataclass
class SandboxState:
    config: SandboxConfig
    tenant: Tenant
    tokens: TokenStore
    limiter: FixedWindowLimiter
    faults: FaultPlan
    stats: SandboxStats
    cursors: CursorCodec


def encode_json(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None):
    return Response(encode_json(content), status, headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Return the API's error body `{"statusCode": N, "message": ...}`."""
    return json_response({"statusCode": status, "message": message}, status, headers)


def request_notes(scope: dict) -> dict[str, Any]:
    """Return the per-request notes dict that the request recorder logs (or a throwaway one)."""
    return scope.get("extensions", {}).get(REQUEST_NOTES_EXTENSION, {})
