"""``aimds serve``: run the HTTP service on uvicorn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

import typer

from aimds.errors import AimdsError


def serve(
    host: Optional[str] = typer.Option(None, help="address to bind (default 127.0.0.1, or AIMDS_HOST)"),
    port: Optional[int] = typer.Option(None, help="port (default 8080, or AIMDS_PORT)"),
    workers: Optional[int] = typer.Option(None, help="worker processes (default 1, or AIMDS_WORKERS)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file: guard settings + 'server:' section"),
) -> None:
    """Serve the AIMDS API (checks, feedback, verdicts, audit, health, metrics)."""
    import uvicorn

    from aimds.server.main import read_config
    from aimds.server.settings import load_server_settings

    try:
        if config is not None:
            os.environ["AIMDS_CONFIG"] = str(config.resolve())
        section, _ = read_config(os.environ.get("AIMDS_CONFIG"))
        settings = load_server_settings(section, host=host, port=port, workers=workers)
    except AimdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for name, value in (("AIMDS_HOST", settings.host), ("AIMDS_PORT", settings.port), ("AIMDS_WORKERS", settings.workers)):
        os.environ[name] = str(value)
    if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "aimds.server.main:build",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_level=settings.log_level,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_concurrency,
        timeout_graceful_shutdown=10,
        server_header=False,
        # The client address comes from the socket unless `trust_forwarded_for` says otherwise
        # (`Service.client_address`); uvicorn's own header rewriting would trust any local caller.
        proxy_headers=False,
        http=_http_protocol(),
    )


def _http_protocol() -> str:
    """httptools with each response's head and body in one socket write (`aimds.server.protocol`),
    or uvicorn's own choice where httptools is not installed."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "auto"
    return "aimds.server.protocol:CoalescingHttpToolsProtocol"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
