"""OAuth 2.0 client credentials token endpoint (RFC 6749 section 4.4)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from cranium_etl.sandbox.auth import (
    ClientCredentials,
    OAuthError,
    credentials_match,
    read_client_credentials,
)
from cranium_etl.sandbox.fault_responses import (
    apply_body_fault,
    rate_limit_fault_response,
    status_fault_response,
)
from cranium_etl.sandbox.state import SandboxState, json_response, request_notes
from cranium_etl.sandbox.wire import ConnectionResetResponse

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BASIC_CHALLENGE = 'Basic realm="cranium-sandbox", charset="UTF-8"'


def token_body(token: str, lifetime: float, style: str) -> dict:
    """Return a successful token response body in one of TOKEN_RESPONSE_STYLES."""
    body: dict = {"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime)}
    if style == "omit_expires_in":
        del body["expires_in"]
    elif style == "string_expires_in":
        body["expires_in"] = str(int(lifetime))
    elif style == "lowercase_token_type":
        body["token_type"] = "bearer"
    elif style == "uppercase_token_type":
        body["token_type"] = "BEARER"
    return body


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """Parse an application/x-www-form-urlencoded body in which each parameter occurs once."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            400,
            "invalid_request",
            f"Content-Type must be application/x-www-form-urlencoded, got {media_type or 'none'}",
        )
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise OAuthError(400, "invalid_request", "request body is not UTF-8") from error

    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError(400, "invalid_request", f"parameter {name!r} occurs more than once")
        form[name] = value
    return form


def _oauth_error_response(error: OAuthError) -> Response:
    headers = dict(_NO_STORE)
    if error.status == 401 and error.basic_used:
        headers["WWW-Authenticate"] = _BASIC_CHALLENGE
    body = {"error": error.error, "error_description": error.description}
    return json_response(body, error.status, headers)


class TokenEndpoint:
    """Issues bearer tokens to the configured client for the configured scope.

    Faults scheduled for the token endpoint act on every request to it, valid or not.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def handle(self, request: Request) -> Response:
        state = self.state
        notes = request_notes(request.scope)
        style = state.config.token_response_style
        fault = state.faults.take("token")
        if fault is not None:
            state.stats.record_fault(fault.kind)
            notes["fault"] = fault.kind
            if fault.kind == "revoke":
                state.tokens.revoke_all()
            elif fault.kind == "slow_headers":
                await asyncio.sleep(fault.params["delay"])
            elif fault.kind == "reset":
                return ConnectionResetResponse()
            elif fault.kind == "status":
                return status_fault_response(fault, {})
            elif fault.kind == "rate_limit":
                return rate_limit_fault_response(fault.params["retry_after"], {})
            elif fault.kind == "token_style":
                style = fault.params["style"]

        try:
            response = await self._issue(request, style)
        except OAuthError as error:
            notes["detail"] = f"rejected: {error.error}, {error.description}"
            if error.basic_used:
                notes.setdefault("client_auth", "basic")
            response = _oauth_error_response(error)

        if fault is not None:
            response = apply_body_fault(fault, response)
        return response

    async def _issue(self, request: Request, style: str) -> Response:
        config = self.state.config
        form = parse_form(request.headers.get("content-type"), await request.body())

        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
            )

        credentials = read_client_credentials(request.headers.get("authorization"), form)
        if credentials is None:
            raise OAuthError(401, "invalid_client", "no client authentication was sent")
        request_notes(request.scope)["client_auth"] = credentials.method
        self._authenticate(credentials)

        scope = form.get("scope")
        if not scope:
            raise OAuthError(400, "invalid_request", "scope is missing")
        if scope != config.scope:
            raise OAuthError(400, "invalid_scope", f"scope {scope!r} is not granted to the client")

        token = self.state.tokens.issue()
        self.state.stats.record_token_issued()
        body = token_body(token, config.token_lifetime, style)
        return json_response(body, 200, _NO_STORE)

    def _authenticate(self, credentials: ClientCredentials) -> None:
        config = self.state.config
        if credentials_match(credentials, config.client_id, config.client_secret):
            return
        raise OAuthError(
            401,
            "invalid_client",
            "client authentication failed: unknown client_id or wrong client_secret",
            basic_used=credentials.method == "basic",
        )
