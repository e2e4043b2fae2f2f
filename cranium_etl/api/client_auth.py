"""Client authentication at the token endpoint (RFC 6749 section 2.3.1) and its error hints."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import requests

from .redaction import Secret

# Setting to check for each OAuth 2.0 error code of a token response (RFC 6749 section 5.2).
ERROR_HINTS = {
    "invalid_client": "check CRANIUM_CLIENT_ID and CRANIUM_CLIENT_SECRET",
    "invalid_scope": "check CRANIUM_SCOPE",
    "unauthorized_client": (
        "the client may not use the client_credentials grant; check CRANIUM_CLIENT_ID"
    ),
    "unsupported_grant_type": (
        "the endpoint does not accept the client_credentials grant; check CRANIUM_TOKEN_URL"
    ),
    "invalid_request": "check CRANIUM_TOKEN_URL and the token parameters",
    "invalid_grant": "check CRANIUM_CLIENT_ID, CRANIUM_CLIENT_SECRET and CRANIUM_SCOPE",
}


class FormEncodedBasicAuth(requests.auth.AuthBase):
    """HTTP Basic client authentication that form-urlencodes id and secret first.

    RFC 6749 section 2.3.1 encodes both values with application/x-www-form-urlencoded before
    joining them with ":" and applying base64; `requests.auth.HTTPBasicAuth` skips that step, so a
    secret containing "+", ":" or "%" would reach the server changed.
    """

    def __init__(self, client_id: str, client_secret: Secret) -> None:
        self._client_id = client_id
        self._client_secret = client_secret

    def header_value(self) -> str:
        user = quote_plus(self._client_id, safe="")
        password = quote_plus(self._client_secret.reveal(), safe="")
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header_value()
        return request

    def __repr__(self) -> str:
        return f"FormEncodedBasicAuth(client_id={self._client_id!r})"
