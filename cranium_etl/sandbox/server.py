"""The sandbox server: uvicorn over TLS on loopback, in a background thread."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from cranium_etl.sandbox.app import create_app
from cranium_etl.sandbox.auth import TokenStore
from cranium_etl.sandbox.config import SandboxConfig
from cranium_etl.sandbox.cursor import CursorCodec
from cranium_etl.sandbox.faults import FaultPlan
from cranium_etl.sandbox.ratelimit import FixedWindowLimiter
from cranium_etl.sandbox.state import SandboxState
from cranium_etl.sandbox.stats import SandboxStats
from cranium_etl.sandbox.tenant import Tenant
from cranium_etl.sandbox.tls import TlsMaterial, create_tls_material
from cranium_etl.sandbox.wire import TRANSPORT_EXTENSION

logger = logging.getLogger("cranium_etl.sandbox")

_STARTUP_TIMEOUT = 15.0  # seconds
_GRACEFUL_SHUTDOWN = 2  # seconds uvicorn waits for open requests before cancelling them


class TransportExposingProtocol(H11Protocol):
    """uvicorn's h11 protocol that adds the connection transport to every request scope.

    Faults that truncate or reset a connection need the transport, which ASGI does not offer.
    """

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner = self.app

        async def app_with_transport(scope, receive, send):
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = transport
            await inner(scope, receive, send)

        self.app = app_with_transport

    def shutdown(self) -> None:
        # An idle keep-alive connection is aborted instead of closed: a TLS close waits for the
        # client's close_notify, which an idle pooled client never sends, and that would hold
        # up every stop() for the whole graceful-shutdown timeout.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
            return
        super().shutdown()


class _PromptServer(uvicorn.Server):
    """uvicorn server that notices a stop request within about 10 ms instead of 100 ms.

    Tests start and stop a sandbox each, so the shorter poll saves a tenth of a second per test.
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            # on_tick refreshes the Date header when counter % 10 == 0, i.e. every 0.1 s here.
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)


class Sandbox:
    """Local HTTPS look-alike of the Cranium API for one generated tenant.

    Use it as a context manager, or call start() and stop(). Clients verify the server
    certificate against `ca_bundle`.
    """

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = config or SandboxConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.epoch: datetime = config.resolved_epoch()
        self.tenant = Tenant(config.seed, config.bom_count, self.epoch)
        self.faults = FaultPlan()
        self.stats = SandboxStats()
        self._state = SandboxState(
            config=config,
            tenant=self.tenant,
            tokens=TokenStore(config.token_lifetime),
            limiter=FixedWindowLimiter(config.rate_limit, config.rate_window),
            faults=self.faults,
            stats=self.stats,
            cursors=CursorCodec(),
        )
        self._tls: TlsMaterial | None = None
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._stop_churn = threading.Event()
        self._churn_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"Sandbox({where}, seed={self.config.seed}, boms={len(self.tenant)})"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not started; call start() or use it in a with block")
        return self._port

    @property
    def base_url(self) -> str:
        host = self.config.host
        host_in_url = f"[{host}]" if ":" in host else host
        return f"https://{host_in_url}:{self.port}"

    @property
    def token_url(self) -> str:
        return self.base_url + self.config.token_path

    @property
    def bom_url(self) -> str:
        return self.base_url + self.config.bom_path

    @property
    def ca_bundle(self) -> str:
        """Path of the PEM file with the sandbox CA certificate, for `verify=` in clients."""
        if self._tls is None:
            raise RuntimeError("the sandbox is not started; the CA bundle is made by start()")
        return str(self._tls.ca_bundle)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid, so the next data request with one gets a 401."""
        self._state.tokens.revoke_all()
        logger.info("revoked all issued tokens")

    def info(self) -> dict[str, str]:
        """Return the connection settings for a client; the secret is left out."""
        return {
            "base_url": self.base_url,
            "token_url": self.token_url,
            "bom_url": self.bom_url,
            "ca_bundle": self.ca_bundle,
            "client_id": self.config.client_id,
            "scope": self.config.scope,
        }

    def start(self) -> Sandbox:
        """Start serving and return once the server accepts TLS connections."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already started; a Sandbox starts only once")
        config = self.config
        self._tls = create_tls_material(config.cert_dir)
        listener = _bind(config.host, config.port)
        self._port = listener.getsockname()[1]

        uvicorn_config = uvicorn.Config(
            create_app(self._state),
            http=TransportExposingProtocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,
            ssl_context_factory=lambda _config, _default: self._tls.server_context,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
        )
        self._server = _PromptServer(uvicorn_config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name=f"cranium-sandbox-{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_serving()

        if config.churn_interval > 0:
            self._churn_thread = threading.Thread(
                target=self._churn, name=f"cranium-sandbox-churn-{self._port}", daemon=True
            )
            self._churn_thread.start()

        logger.info(
            "sandbox started at %s (seed %d, %d BOMs, epoch %s, CA bundle %s)",
            self.base_url,
            config.seed,
            len(self.tenant),
            self.epoch.isoformat(),
            self.ca_bundle,
        )
        return self

    def stop(self) -> None:
        """Stop the churn thread and the server, and delete a temporary CA bundle.

        Calling stop() again does nothing.
        """
        self._stop_churn.set()
        if self._churn_thread is not None:
            self._churn_thread.join()

        if self._server is not None and self._thread is not None and not self._server.should_exit:
            self._server.should_exit = True
            self._thread.join(timeout=_GRACEFUL_SHUTDOWN + 5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=5)
            if self._thread.is_alive():
                logger.error("sandbox server thread did not stop within the shutdown timeout")
            else:
                logger.info("sandbox at %s stopped", self.base_url)

        if self._tls is not None:
            self._tls.cleanup()

    def _wait_until_serving(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"sandbox server on port {self._port} failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sandbox server did not start within {_STARTUP_TIMEOUT} s")
            time.sleep(0.01)

        with socket.create_connection((self.config.host, self.port), timeout=_STARTUP_TIMEOUT):
            pass

    def _churn(self) -> None:
        config = self.config
        while not self._stop_churn.wait(config.churn_interval):
            updated, added = self.tenant.churn(config.churn_updates, config.churn_additions)
            logger.info("churn: updated %d and added %d BOMs", len(updated), len(added))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # asyncio sets TCP_NODELAY on accepted connections only when the listener's proto is
    # IPPROTO_TCP; with proto 0 every small response waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


__all__ = ["Sandbox", "TransportExposingProtocol"]
