"""Settings of a sandbox instance."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_SCOPE = "https://id.cranium.ai/api/.default"

# Shapes of a successful token response; "standard" is the documented one.
TOKEN_RESPONSE_STYLES = (
    "standard",
    "omit_expires_in",
    "string_expires_in",
    "lowercase_token_type",
    "uppercase_token_type",
)


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """Settings of a sandbox: generated tenant, credentials, limits, churn and listener.

    The generated tenant is reproducible from `seed` and `epoch`. `epoch` is the UTC time at
    which the generated history ends; None means the start time, floored to the second.
    """

    seed: int = 7
    bom_count: int = 2000
    epoch: datetime | None = None
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = dataclasses.field(default=DEFAULT_CLIENT_SECRET, repr=False)
    scope: str = DEFAULT_SCOPE
    token_lifetime: float = 3600.0
    token_response_style: str = "standard"
    rate_limit: int = 60
    rate_window: float = 60.0
    rate_limit_headers: bool = True
    churn_interval: float = 0.0
    churn_updates: int = 5
    churn_additions: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    bom_path: str = "/api/public/v1/billofmaterials"
    bom_alias_paths: tuple[str, ...] = ("/api/public/billofmaterials",)
    token_path: str = "/oauth2/v2.0/token"
    max_limit: int = 200
    default_limit: int = 100
    cert_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if self.bom_count < 0:
            raise ValueError(f"bom_count must be 0 or more, got {self.bom_count}")
        if self.epoch is not None and self.epoch.tzinfo is None:
            raise ValueError(f"epoch must be timezone-aware (UTC), got naive {self.epoch!r}")

        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if not self.client_secret:
            raise ValueError("client_secret must not be empty")
        if not self.scope:
            raise ValueError("scope must not be empty")

        if self.token_lifetime <= 0:
            raise ValueError(f"token_lifetime must be positive, got {self.token_lifetime}")
        if self.token_response_style not in TOKEN_RESPONSE_STYLES:
            raise ValueError(
                f"unknown token_response_style {self.token_response_style!r}; "
                f"expected one of {', '.join(TOKEN_RESPONSE_STYLES)}"
            )

        if self.rate_limit < 1:
            raise ValueError(f"rate_limit must be 1 or more, got {self.rate_limit}")
        if self.rate_window <= 0:
            raise ValueError(f"rate_window must be positive, got {self.rate_window}")

        if self.churn_interval < 0:
            raise ValueError(
                f"churn_interval must be 0 (off) or positive, got {self.churn_interval}"
            )
        if self.churn_updates < 0 or self.churn_additions < 0:
            raise ValueError("churn_updates and churn_additions must be 0 or more")

        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {self.port}")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError(
                f"default_limit must be from 1 to max_limit ({self.max_limit}), "
                f"got {self.default_limit}"
            )
        for path in (self.bom_path, self.token_path, *self.bom_alias_paths):
            if not path.startswith("/"):
                raise ValueError(f"endpoint path must start with '/', got {path!r}")

    def resolved_epoch(self, now: datetime | None = None) -> datetime:
        """Return `epoch`, or `now` (default: the current UTC time) floored to the second."""
        if self.epoch is not None:
            return self.epoch.astimezone(UTC).replace(microsecond=0)
        moment = now or datetime.now(UTC)
        return moment.astimezone(UTC).replace(microsecond=0)
