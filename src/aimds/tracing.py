"""OpenTelemetry traces, when the optional extra (``pip install 'aimds[otel]'``) is installed.

Without the packages every function here is a no-op, so the core never depends on them. With them,
each `Guard.check` is a span carrying the decision (action, risk, threat kinds, never the text),
and the HTTP app is wrapped in OpenTelemetry's ASGI middleware; where the spans go (OTLP, console)
is configured the standard OpenTelemetry way (an SDK TracerProvider, ``OTEL_*`` variables).
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import trace as _trace
except ImportError:  # the extra is not installed
    _trace = None


def tracer() -> Any | None:
    return _trace.get_tracer("aimds") if _trace is not None else None


def instrument_app(app: Any) -> Any:
    """Wrap an ASGI app so every request is a server span (with the request's route and status)."""
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError:
        return app
    return OpenTelemetryMiddleware(app, excluded_urls="healthz,readyz,metrics")
