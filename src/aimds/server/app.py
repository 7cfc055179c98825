"""The HTTP service: Starlette routes over one `Guard`, a `Store`, the audit trail and metrics.

The per-request pipeline (auth, rate limits, errors, metrics, logs) lives in `aimds.server.service`;
this module holds the checking, feedback, audit and health routes, the route table and the app
factory. Output checks, canaries and deanonymization are in `routes_output`; the agent runtime
routes in `routes_agents`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aimds.audit import canonical, load_or_create_key
from aimds.auth import ApiRole, Principal
from aimds.server import routes_agents, routes_output
from aimds.server.errors import ApiError
from aimds.server.http import MAX_PAGE, Handler, float_param, int_param, json_response, request_id_of
from aimds.server.schemas import (BatchBody, BatchRequest, CheckBody, CheckRequest, FeedbackRequest, fast_batch,
                                  fast_check)
from aimds.server.service import Service
from aimds.server.settings import ServerSettings

log = logging.getLogger("aimds.server")

CHECKERS = frozenset({ApiRole.CHECKER})
READERS = frozenset({ApiRole.CHECKER, ApiRole.AUDITOR})
AUDITORS = frozenset({ApiRole.AUDITOR})
ADMINS: frozenset[ApiRole] = frozenset()  # `require` always lets admins through
FEEDBACK_STREAM = "feedback"


# --- routes -----------------------------------------------------------------------------------

async def check(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: CheckRequest | CheckBody = await svc.read_json(request, CheckRequest, fast_check)
    svc.check_text_size(body.text)
    verdict = svc.observe(await svc.check_text(body.text, body.role.value, body.session_id, body.agent_id, body.context))
    headers = await svc.record([verdict], [body.text], principal, svc.client_address(request), "check")
    return json_response(verdict, headers=headers)


async def check_batch(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: BatchRequest | BatchBody = await svc.read_json(request, BatchRequest, fast_batch)
    if len(body.texts) > svc.settings.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(body.texts)} texts; the limit is {svc.settings.max_batch}")
    svc.check_text_size(max(body.texts, key=len))
    check_many = partial(svc.guard.check_many, role=body.role.value, session_id=body.session_id,
                         agent_id=body.agent_id)
    verdicts = [svc.observe(v) for v in await svc.run_guard_slices(check_many, body.texts, svc.blocking_checks)]
    headers = await svc.record(verdicts, body.texts, principal, svc.client_address(request), "check_batch")
    return json_response({"verdicts": verdicts}, headers=headers)


async def feedback(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: FeedbackRequest = await svc.read_json(request, FeedbackRequest)
    if body.text is not None:
        svc.check_text_size(body.text)
    if body.verdict_id is not None:
        if await svc.call_store("verdicts", svc.audit.kept, f"verdict:{body.verdict_id}") is None:
            raise ApiError(404, "verdict_not_found", "no verdict with this id (unknown or expired)")
    item = body.model_dump(mode="json", exclude_none=True) | {"ts": time.time(), "actor": principal.actor}
    seq = await svc.call_store("feedback", svc.store.append, FEEDBACK_STREAM, canonical(item))
    return json_response({"id": seq}, status=201)


async def list_feedback(svc: Service, request: Request, principal: Principal | None) -> Response:
    after, limit = int_param(request, "after", 0), int_param(request, "limit", 100, 1, MAX_PAGE)
    rows = await svc.call_store("feedback", svc.store.read, FEEDBACK_STREAM, after, limit)
    items = [orjson.loads(raw) | {"id": seq} for seq, raw in rows]
    return json_response({"items": items, "next_after": rows[-1][0] if rows else after})


async def get_verdict(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    verdict_id = request.path_params["verdict_id"]
    raw = None
    if 0 < len(verdict_id) <= 64:
        raw = await svc.call_store("verdicts", svc.audit.kept, f"verdict:{verdict_id}")
    stored = orjson.loads(raw) if raw else None
    # A checker sees only its own verdicts; someone else's looks exactly like a missing one.
    if stored is None or (principal.role is ApiRole.CHECKER and stored.get("owner") != principal.actor):
        raise ApiError(404, "verdict_not_found", "no verdict with this id (unknown or expired)")
    stored.pop("owner", None)
    return json_response(stored)


async def audit(svc: Service, request: Request, principal: Principal | None) -> Response:
    q = request.query_params
    fmt = q.get("format", "json")
    if fmt not in ("json", "jsonl"):
        raise ApiError(422, "validation_error", "format must be json or jsonl", field="format")
    after = int_param(request, "after", 0)
    limit = int_param(request, "limit", 100, 1, MAX_PAGE) if fmt == "json" else \
        int_param(request, "limit", 10_000_000, 1, 10_000_000)
    filters = {
        "since": float_param(request, "since"),
        "until": float_param(request, "until"),
        "action": q.get("action"),
        "actor": q.get("actor"),
        "kind": q.get("kind"),
        "event": q.get("event"),
    }
    records = await svc.call_store("audit", svc.audit.search, after=after, limit=limit, **filters)
    if fmt == "jsonl":
        return StreamingResponse((canonical(r) + b"\n" for r in records), media_type="application/x-ndjson")
    return json_response({"records": records, "next_after": records[-1]["seq"] if records else after})


async def audit_verify(svc: Service, request: Request, principal: Principal | None) -> Response:
    result = await svc.call_store("audit", svc.audit.verify)
    return json_response(result.__dict__, status=200 if result.ok else 409)


async def noop(svc: Service, request: Request, principal: Principal | None) -> Response:
    """Same stack as /v1/check (auth, limits, body read) minus the check and the audit: the benchmark baseline."""
    await request.body()
    return json_response({"ok": True})


async def healthz(svc: Service, request: Request, principal: Principal | None) -> Response:
    return json_response({"status": "ok"})


async def readyz(svc: Service, request: Request, principal: Principal | None) -> Response:
    store_ok = bool(await svc.call_store("ping", svc.store.ping))
    svc.metrics.store_up.set(1 if store_ok else 0)
    if not store_ok and not svc._store_down_logged:
        log.error("store unreachable", extra={"failure_mode": svc.settings.store_failure})
    svc._store_down_logged = not store_ok
    ready = store_ok or svc.fail_open
    checks = {"store": "ok" if store_ok else "unavailable", "store_failure_mode": svc.settings.store_failure,
              "audit_writer": "ok" if svc.committer.running else "stopped"}
    ready = ready and checks["audit_writer"] == "ok"
    status = "ready" if store_ok and ready else ("degraded" if ready else "unavailable")
    return json_response({"status": status, "checks": checks}, status=200 if ready else 503)


async def metrics(svc: Service, request: Request, principal: Principal | None) -> Response:
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(svc: Service, request: Request, principal: Principal | None) -> Response:
    from aimds.server.openapi import document

    return json_response(document(svc.settings.max_batch))


ROUTES: list[tuple[str, str, str, frozenset[ApiRole] | None, Handler]] = [
    ("POST", "/v1/check", "check", CHECKERS, check),
    ("POST", "/v1/check/batch", "check_batch", CHECKERS, check_batch),
    ("POST", "/v1/feedback", "feedback", CHECKERS, feedback),
    ("GET", "/v1/feedback", "list_feedback", AUDITORS, list_feedback),
    ("GET", "/v1/verdicts/{verdict_id}", "get_verdict", READERS, get_verdict),
    ("GET", "/v1/audit", "audit", AUDITORS, audit),
    ("GET", "/v1/audit/verify", "audit_verify", AUDITORS, audit_verify),
    *routes_output.routes(CHECKERS, ADMINS),
    *routes_agents.routes(CHECKERS, READERS, ADMINS),
    ("GET", "/healthz", "healthz", None, healthz),
    ("GET", "/readyz", "readyz", None, readyz),
    ("GET", "/metrics", "metrics", None, metrics),
    ("GET", "/openapi.json", "openapi", None, openapi),
]


def create_app(settings: ServerSettings | None = None, guard: Any = None, store: Any = None) -> Starlette:
    """Build the app; ``guard`` and ``store`` default to ones made from the settings."""
    settings = settings or ServerSettings()
    if store is None:
        from aimds.store.factory import open_store

        store = open_store(settings.store_location, data_dir=settings.data_dir)
    if guard is None:
        from aimds import Guard

        guard = Guard(store=store)
    key = bytes.fromhex(settings.audit_key.get_secret_value()) if settings.audit_key else load_or_create_key(settings.data_dir)
    svc = Service(settings, guard, store, key)
    _warn_about_per_process_keys(settings, guard, store)
    table = list(ROUTES)
    if settings.bench_noop:  # next to /v1/check: the router tries routes in order, and pays for each miss
        table.insert(1, ("POST", "/v1/noop", "noop", CHECKERS, noop))
    endpoints = [(method, path, name, svc.endpoint(name, roles, handler)) for method, path, name, roles, handler in table]
    routes = [Route(path, endpoint, methods=[method], name=name) for method, path, name, endpoint in endpoints]
    direct = {(method, path): endpoint for method, path, _, endpoint in endpoints if "{" not in path}
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc.start()
        yield
        svc.stop()

    app = App(direct, routes=routes, exception_handlers={404: _not_found, 405: _not_allowed}, lifespan=lifespan)
    app.state.service = svc
    return app


class App(Starlette):
    """Starlette that calls the endpoints of fixed paths directly, by one dict lookup on (method, path).

    Starlette's own stack (its error and exception middleware, the router trying each route's regex,
    the per-route exception wrapper) cost about as much CPU as uvicorn itself on the no-op route, and
    gave nothing here: every endpoint already turns each error into a JSON answer (`Service.endpoint`).
    Paths with parameters, other methods (HEAD, OPTIONS), 404/405, the lifespan, and any app with
    middleware added go through Starlette as before."""

    def __init__(self, direct: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path") and not self.user_middleware:
            endpoint = self._direct.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _warn_about_per_process_keys(settings: ServerSettings, guard: Any, store: Any) -> None:
    """Canaries and vault entries are keyed; without configured keys each process has its own, so
    another instance (or worker) cannot verify a canary or restore an anonymized value."""
    shared = settings.workers > 1 or bool(getattr(store, "blocking_io", False))
    if not shared:
        return
    if guard.settings.canary_key is None:
        log.warning("canary_key is not set: canaries verify only in the process that made them")
    if guard.settings.redact_mode == "anonymize" and guard.settings.redact_key is None:
        log.warning("redact_key is not set: anonymized values can be restored only by the process that made them")


async def _not_found(request: Request, exc: Exception) -> Response:
    return ApiError(404, "not_found", "no such route").response(request_id_of(request))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return ApiError(405, "method_not_allowed", "method not allowed on this route").response(request_id_of(request))
