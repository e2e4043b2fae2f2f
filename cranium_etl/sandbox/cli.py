"""Command line of the sandbox: `cranium-etl sandbox` and `python -m cranium_etl.sandbox`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cranium_etl.sandbox.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPE,
    SandboxConfig,
)
from cranium_etl.sandbox.server import Sandbox

SECRET_ENV = "CRANIUM_SANDBOX_CLIENT_SECRET"
DEFAULT_PORT = 8443

logger = logging.getLogger("cranium_etl.sandbox")


def _utc_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid ISO 8601 time: {text!r}") from error
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time {text!r} needs a UTC offset, e.g. a trailing Z")
    return moment


def build_parser(prog: str = "cranium-etl sandbox") -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve a generated Cranium tenant over HTTPS on loopback until SIGINT or SIGTERM. "
            f"The client secret comes from ${SECRET_ENV} (default: the documented sandbox "
            "secret)."
        ),
    )
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    add("--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 for a free one (%(default)s)")
    add("--seed", type=int, default=defaults.seed, help="seed of the generated tenant")
    add("--bom-count", type=int, default=defaults.bom_count, help="number of generated BOMs")
    add("--epoch", type=_utc_datetime, help="UTC time the generated history ends (default: now)")

    add("--client-id", default=DEFAULT_CLIENT_ID, help="accepted client id (%(default)s)")
    add("--scope", default=DEFAULT_SCOPE, help="accepted scope (%(default)s)")
    add(
        "--token-lifetime",
        type=float,
        default=defaults.token_lifetime,
        help="token lifetime in seconds (%(default)s)",
    )

    add("--rate-limit", type=int, default=defaults.rate_limit, help="requests per window")
    add("--rate-window", type=float, default=defaults.rate_window, help="window in seconds")
    add(
        "--no-rate-limit-headers",
        action="store_true",
        help="leave out the X-Rate-Limit-* response headers",
    )

    add(
        "--churn-interval",
        type=float,
        default=defaults.churn_interval,
        help="seconds between background changes to the tenant, 0 for none (%(default)s)",
    )
    add("--churn-updates", type=int, default=defaults.churn_updates, help="updates per change")
    add(
        "--churn-additions", type=int, default=defaults.churn_additions, help="additions per change"
    )

    add("--cert-dir", type=Path, help="directory for the CA bundle (default: a temporary one)")
    add(
        "--info-file",
        type=Path,
        help="write the URLs, CA bundle path, client id and scope as JSON here (never the secret)",
    )
    add("--log-level", default="INFO", help="logging level (%(default)s)")
    return parser


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        bom_count=args.bom_count,
        epoch=args.epoch,
        client_id=args.client_id,
        client_secret=environ.get(SECRET_ENV) or DEFAULT_CLIENT_SECRET,
        scope=args.scope,
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_limit_headers=not args.no_rate_limit_headers,
        churn_interval=args.churn_interval,
        churn_updates=args.churn_updates,
        churn_additions=args.churn_additions,
        host=args.host,
        port=args.port,
        cert_dir=args.cert_dir,
    )


def _write_info_file(path: Path, info: dict[str, str]) -> None:
    """Write atomically, so that a process polling for the file never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def run_sandbox_cli(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGINT or SIGTERM and return the exit status.

    The info file is deleted on exit, because the server and a temporary CA bundle are gone.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from_args(args, dict(os.environ))
    except ValueError as error:
        parser.error(str(error))

    stop = threading.Event()

    def request_stop(signum: int, _frame) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Sandbox(config) as sandbox:
            if args.info_file is not None:
                _write_info_file(args.info_file, sandbox.info())
                logger.info("wrote connection settings to %s", args.info_file)
            print(f"Cranium sandbox at {sandbox.base_url}", flush=True)
            print(f"  token URL  {sandbox.token_url}", flush=True)
            print(f"  BOM URL    {sandbox.bom_url}", flush=True)
            print(f"  CA bundle  {sandbox.ca_bundle}", flush=True)
            print(f"  client id  {config.client_id}, scope {config.scope}", flush=True)
            while not stop.wait(0.5):
                pass
    except OSError as error:
        logger.error("sandbox failed to start on %s:%d: %s", config.host, config.port, error)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if args.info_file is not None:
            args.info_file.unlink(missing_ok=True)
    return 0
