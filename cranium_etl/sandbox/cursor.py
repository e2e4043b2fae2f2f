"""Opaque, tamper-evident pagination cursors.

A cursor is base64url(JSON {"updatedAt", "seq"}) + "." + base64url(HMAC-SHA256 tag). Only `seq`
matters to the server; `updatedAt` (updatedDate of the last served record) helps a reader of
logs. The HMAC key is random per sandbox instance, so a cursor from a previous run is rejected
as invalid, which is what a client sees when the vendor invalidates a stored cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets


class InvalidCursor(ValueError):
    """The cursor was not issued by this sandbox instance or was altered."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


class CursorCodec:
    """Encodes sequence numbers into signed cursors and decodes them back."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def encode(self, sequence: int, updated_at: str | None = None) -> str:
        payload = json.dumps({"updatedAt": updated_at, "seq": sequence}, separators=(",", ":"))
        body = _b64encode(payload.encode("utf-8"))
        return f"{body}.{self._tag(body)}"

    def decode(self, cursor: str) -> int:
        """Return the sequence number of `cursor`; raise InvalidCursor if it is not genuine."""
        body, dot, tag = cursor.partition(".")
        if not dot or not body or not tag:
            raise InvalidCursor("cursor is not in the issued format")
        if not hmac.compare_digest(tag, self._tag(body)):
            raise InvalidCursor("cursor signature does not match")

        try:
            payload = json.loads(_b64decode(body))
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise InvalidCursor("cursor payload is not valid base64 JSON") from error

        sequence = payload.get("seq") if isinstance(payload, dict) else None
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise InvalidCursor("cursor has no valid sequence number")
        return sequence

    def _tag(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode("utf-8"), hashlib.sha256).digest()
        return _b64encode(digest[:16])
