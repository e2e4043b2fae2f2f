"""Local HTTPS look-alike of the Cranium Public REST API, for tests and demos.

The API client never imports this package.
"""

from cranium_etl.sandbox.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPE,
    TOKEN_RESPONSE_STYLES,
    SandboxConfig,
)
from cranium_etl.sandbox.faults import FAULT_KINDS, Fault, FaultPlan
from cranium_etl.sandbox.records import FIELD_ORDER, SCAN_STATUSES
from cranium_etl.sandbox.server import Sandbox
from cranium_etl.sandbox.stats import RequestLogEntry, SandboxStats
from cranium_etl.sandbox.tenant import Tenant

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPE",
    "FAULT_KINDS",
    "FIELD_ORDER",
    "SCAN_STATUSES",
    "TOKEN_RESPONSE_STYLES",
    "Fault",
    "FaultPlan",
    "RequestLogEntry",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "Tenant",
]
