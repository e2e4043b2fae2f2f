"""Settings of the Cranium API client, checked before any request is sent."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .redaction import Secret

DEFAULT_BOM_PATH = "/api/public/v1/billofmaterials"
MAX_PAGE_SIZE = 200

# Environment variable of each setting that `ClientConfig.from_env` reads; error messages name them.
ENV_VARS = {
    "client_id": "CRANIUM_CLIENT_ID",
    "client_secret": "CRANIUM_CLIENT_SECRET",
    "scope": "CRANIUM_SCOPE",
    "base_url": "CRANIUM_BASE_URL",
    "token_url": "CRANIUM_TOKEN_URL",
    "ca_bundle": "CRANIUM_CA_BUNDLE",
}


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Limits that the Dagster resource and `cranium-etl sync` read from the environment.
LIMIT_ENV_VARS = {
    "max_retries": "CRANIUM_MAX_RETRIES",
    "max_total_wait": "CRANIUM_MAX_TOTAL_WAIT",
    "max_inline_wait": "CRANIUM_MAX_INLINE_WAIT",
}


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Credentials, endpoints, timeouts, retry limits and rate-limit pacing of one client.

    Durations are in seconds. `client_secret` is stored as a `Secret`, so the repr is masked.
    """

    client_id: str
    client_secret: Secret
    scope: str
    token_url: str
    base_url: str
    bom_path: str = DEFAULT_BOM_PATH
    auth_style: Literal["basic", "body"] = "basic"
    token_params: Mapping[str, str] = field(default_factory=dict)
    """Extra form parameters of every token request (for example `audience`)."""
    ca_bundle: str | None = None
    """PEM file of the CA that signed the server certificates. None uses the certifi bundle.

    REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and proxy variables of the environment are not read."""
    https_proxy: str | None = None
    """Proxy URL for all requests. None connects directly."""
    allow_insecure_loopback: bool = False
    """Accept `http://` URLs whose host is a loopback address (local test servers only)."""
    page_size: int = MAX_PAGE_SIZE
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Maximum wait for each socket read, response headers included."""
    body_timeout: float = 300.0
    """Maximum time to read one response body, which bounds a server that sends it slowly."""
    max_retries: int = 8
    max_total_wait: float = 600.0
    """Maximum waiting between the attempts of one request, backoff and Retry-After together."""
    max_inline_wait: float = 120.0
    """A 429 requesting a longer wait raises RateLimitWaitTooLong instead of sleeping."""
    max_invalid_response_retries: int = 2
    """Retries of a page whose body was cut off or was invalid JSON."""
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    token_renew_margin: float = 60.0
    """A cached token with fewer seconds left is renewed before the next request."""
    default_token_lifetime: float = 3600.0
    """Lifetime assumed when a token response has no `expires_in`."""
    rate_limit: int = 60
    """Requests per window that the local pacer allows when responses carry no rate headers."""
    rate_window: float = 60.0
    """Length of the fixed rate-limit windows, aligned to multiples of it since the Unix epoch."""
    rate_limit_reserve: int = 1
    """Requests left unused in a window that the API reports as nearly spent."""
    pacer_dir: str | Path | None = None
    """Directory of the window counter shared by processes. None keeps the count in this process."""
    user_agent: str = "cranium-etl"

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_secret", Secret(self.client_secret))
        object.__setattr__(self, "token_params", dict(self.token_params))
        object.__setattr__(self, "base_url", self.base_url.strip().rstrip("/"))
        object.__setattr__(self, "token_url", self.token_url.strip())
        self._validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> ClientConfig:
        """Build a config from the CRANIUM_* environment variables and `overrides`, which win."""
        environ = os.environ if environ is None else environ
        values: dict = {name: environ.get(variable, "") for name, variable in ENV_VARS.items()}
        values["ca_bundle"] = values["ca_bundle"] or None
        values.update(overrides)
        return cls(**values)

    @property
    def bom_url(self) -> str:
        return self.base_url + "/" + self.bom_path.lstrip("/")

    def _validate(self) -> None:
        for name in ("client_id", "client_secret", "scope", "base_url", "token_url"):
            value = getattr(self, name)
            text = value.reveal() if isinstance(value, Secret) else value
            if not text or not text.strip():
                raise ConfigurationError(
                    f"{name} is missing; set {ENV_VARS[name]}", variable=ENV_VARS[name]
                )

        self._validate_url("base_url", self.base_url)
        self._validate_url("token_url", self.token_url)

        if self.auth_style not in ("basic", "body"):
            raise ConfigurationError(
                f"auth_style must be 'basic' or 'body', got {self.auth_style!r}; "
                "set CRANIUM_AUTH_STYLE to basic or body",
                variable="CRANIUM_AUTH_STYLE",
            )
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}; "
                f"set CRANIUM_PAGE_SIZE to a value from 1 to {MAX_PAGE_SIZE}",
                variable="CRANIUM_PAGE_SIZE",
            )
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigurationError(
                f"CA bundle {self.ca_bundle} not found; set CRANIUM_CA_BUNDLE to a PEM file",
                variable="CRANIUM_CA_BUNDLE",
            )

        positive = (
            "connect_timeout",
            "read_timeout",
            "body_timeout",
            "backoff_initial",
            "backoff_max",
            "default_token_lifetime",
            "rate_window",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be positive, got {getattr(self, name)}")
        not_negative = (
            "max_retries",
            "max_total_wait",
            "max_inline_wait",
            "token_renew_margin",
            "max_invalid_response_retries",
            "rate_limit_reserve",
        )
        for name in not_negative:
            if getattr(self, name) < 0:
                variable = LIMIT_ENV_VARS.get(name)
                hint = f"; set {variable} to 0 or more" if variable else ""
                raise ConfigurationError(
                    f"{name} must not be negative, got {getattr(self, name)}{hint}",
                    variable=variable,
                )
        if self.rate_limit < 1:
            raise ConfigurationError(f"rate_limit must be at least 1, got {self.rate_limit}")

    def _validate_url(self, name: str, url: str) -> None:
        variable = ENV_VARS[name]
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(
                f"{name} {url!r} is not an absolute https:// URL; set {variable}",
                variable=variable,
            )
        if parts.scheme == "https":
            return
        if self.allow_insecure_loopback and is_loopback_host(parts.hostname):
            return
        raise ConfigurationError(
            f"{name} {url!r} uses plain http; the Cranium API requires https, so set {variable} "
            "to an https:// URL (plain http is accepted only for loopback hosts with "
            "allow_insecure_loopback=True)",
            variable=variable,
        )
