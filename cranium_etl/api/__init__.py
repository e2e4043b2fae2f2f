"""Client of the Cranium Public REST API: tokens, pacing, retries and pagination.

This package imports neither Dagster nor the storage or sandbox packages.
"""

from .client import CraniumClient
from .config import ClientConfig
from .errors import (
    ApiError,
    AuthenticationError,
    CertificateVerificationError,
    ConfigurationError,
    CraniumError,
    InvalidCursorError,
    RateLimitWaitTooLong,
    ResponseError,
    RetriesExhausted,
)
from .pagination import Page
from .redaction import Secret
from .stats import RequestStats

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CertificateVerificationError",
    "ClientConfig",
    "ConfigurationError",
    "CraniumClient",
    "CraniumError",
    "InvalidCursorError",
    "Page",
    "RateLimitWaitTooLong",
    "RequestStats",
    "ResponseError",
    "RetriesExhausted",
    "Secret",
]
