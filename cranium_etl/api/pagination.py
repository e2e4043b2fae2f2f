"""Pages of a cursor-paginated list endpoint and the checks each page must pass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import ResponseError


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint.

    `records` are the objects of `data` exactly as received, unknown fields included.
    `next_cursor` is the cursor to send for the next page and, on the last page, the bookmark
    for the next incremental sync. `number` counts pages from 1 within one iteration, and
    `cursor` is the cursor that was sent for this page (None on the first).
    """

    records: list[dict] = field(repr=False)
    next_cursor: str | None
    has_more: bool
    request_id: str | None
    number: int
    cursor: str | None = None

    def __repr__(self) -> str:
        return (
            f"Page(number={self.number}, records={len(self.records)}, has_more={self.has_more}, "
            f"request_id={self.request_id!r})"
        )


def decode_envelope(body: bytes, *, url: str, request_id: str | None) -> dict:
    """Parse a response body as a JSON object; invalid JSON is a transient ResponseError."""
    try:
        envelope = json.loads(body)
    except ValueError as error:
        position = getattr(error, "pos", "?")
        raise ResponseError(
            f"body is not valid JSON ({type(error).__name__} at byte {position} of {len(body)})",
            url=url,
            request_id=request_id,
            transient=True,
        ) from None
    if not isinstance(envelope, dict):
        raise ResponseError(
            f"body is a JSON {type(envelope).__name__}, expected an object",
            url=url,
            request_id=request_id,
        )
    return envelope


def parse_page(
    envelope: dict,
    *,
    url: str,
    request_id: str | None,
    limit: int,
    number: int,
    sent_cursor: str | None,
    seen_cursors: set[str],
) -> Page:
    """Check a decoded envelope against the pagination contract and return its Page.

    `seen_cursors` contains every cursor sent so far in this iteration, `sent_cursor` included.
    A `nextCursor` equal to one of them while `hasMore` is true would repeat pages forever.
    """

    def fail(problem: str) -> ResponseError:
        return ResponseError(problem, url=url, request_id=request_id)

    error = envelope.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise fail(f"the envelope carries an error: {str(message)[:300]}")

    records = envelope.get("data")
    if records is None:
        raise fail("the envelope has no 'data'")
    if not isinstance(records, list):
        raise fail(f"'data' is a {type(records).__name__}, expected a list")
    if not all(isinstance(record, dict) for record in records):
        raise fail("'data' contains an element that is not an object")
    if len(records) > limit:
        raise fail(f"page has {len(records)} records, more than the requested limit {limit}")

    pagination = envelope.get("pagination")
    if not isinstance(pagination, dict):
        raise fail("the envelope has no 'pagination' object")
    has_more = pagination.get("hasMore")
    if not isinstance(has_more, bool):
        raise fail(f"'pagination.hasMore' is {has_more!r}, expected true or false")
    next_cursor = pagination.get("nextCursor")
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise fail(f"'pagination.nextCursor' is a {type(next_cursor).__name__}, expected a string")

    if has_more:
        if not next_cursor:
            raise fail("'hasMore' is true but 'nextCursor' is empty")
        if next_cursor == sent_cursor or next_cursor in seen_cursors:
            raise fail("'hasMore' is true but 'nextCursor' repeats a cursor already sent")

    return Page(
        records=records,
        next_cursor=next_cursor or None,
        has_more=has_more,
        request_id=request_id,
        number=number,
        cursor=sent_cursor,
    )
