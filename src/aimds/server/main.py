"""The app factory uvicorn workers call: everything comes from the environment and the config file.

``AIMDS_CONFIG`` names an optional YAML file: its ``server:`` section configures the service, the rest
configures the guard (`aimds.config.Settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette

from aimds import yamlio
from aimds.errors import ConfigError
from aimds.server.logs import configure
from aimds.server.settings import ServerSettings, load_server_settings


def read_config(path: str | os.PathLike[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a YAML config file into (server section, guard settings)."""
    if not path:
        return {}, {}
    try:
        data = yamlio.load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("server", {}), dict):
        raise ConfigError(f"config file {path} must hold a mapping (with an optional 'server' mapping)")
    server = data.pop("server", {}) or {}
    return server, data


def build(settings: ServerSettings | None = None) -> Starlette:
    from aimds import Guard, load_settings
    from aimds.server.app import create_app

    server_section, guard_section = read_config(os.environ.get("AIMDS_CONFIG"))
    settings = settings or load_server_settings(server_section)
    configure(settings.log_level)
    from aimds.store.factory import open_store

    store = open_store(settings.store_location, data_dir=settings.data_dir)
    # The guard shares the server's store, so anonymize-mode vault entries are seen by every instance.
    guard = Guard(load_settings(None, **guard_section), store=store) if guard_section else Guard(store=store)
    app = create_app(settings, guard=guard, store=store)
    if _tracing_configured():
        from aimds.tracing import instrument_app

        return instrument_app(app)
    return app


def _tracing_configured() -> bool:
    """Whether spans go anywhere: an OpenTelemetry SDK tracer provider is set (in code, or by
    ``opentelemetry-instrument``). Without one the ASGI middleware would only cost time (about as much
    per request as the rest of the no-op route's stack)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
