"""TLS material of a sandbox: a throwaway certificate authority and a loopback server cert."""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_IDENTITIES = ("127.0.0.1", "localhost", "::1")
CA_BUNDLE_NAME = "sandbox-ca.pem"


@dataclass
class TlsMaterial:
    """Server SSL context and the path of the PEM CA bundle that clients verify against."""

    server_context: ssl.SSLContext
    ca_bundle: Path
    _temporary_dir: tempfile.TemporaryDirectory | None

    def cleanup(self) -> None:
        """Delete the CA bundle if it lives in a temporary directory of its own."""
        if self._temporary_dir is not None:
            self._temporary_dir.cleanup()
            self._temporary_dir = None


def create_tls_material(cert_dir: str | Path | None = None) -> TlsMaterial:
    """Create a new CA, issue a server certificate for loopback and write the CA bundle.

    The bundle goes to `cert_dir` when given, else to a new temporary directory. The private
    keys stay in memory; only the public CA certificate is written.
    """
    authority = trustme.CA(organization_name="Cranium sandbox")
    server_cert = authority.issue_cert(*SERVER_IDENTITIES)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_cert.configure_cert(context)

    temporary_dir = None
    if cert_dir is None:
        temporary_dir = tempfile.TemporaryDirectory(prefix="cranium-sandbox-")
        directory = Path(temporary_dir.name)
    else:
        directory = Path(cert_dir)
        directory.mkdir(parents=True, exist_ok=True)

    ca_bundle = directory / CA_BUNDLE_NAME
    authority.cert_pem.write_to_path(str(ca_bundle))
    return TlsMaterial(context, ca_bundle, temporary_dir)
