"""The HTTP service: Starlette routes over one `Guard`, a `Store`, the audit trail and metrics.

Every route goes through `Service.endpoint`, which does, in order: request id, per-address rate limit,
authentication, role check, per-key rate limit, the handler, then metrics and one JSON log line.
No Starlette middleware (it costs a task per request); errors become `ApiError` responses.
A decision is answered only after its audit record is durably committed (unless the store failure
mode is "open" and the store is down, which the response header ``x-aimds-audit: failed`` says).
"""

from __future__ import annotations

import asyncio
import hashlib
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from aimds.audit import AuditLog, AuditWriter, canonical, decision_entry, load_or_create_key
from aimds.auth import ApiRole, Authenticator, AuthError, Forbidden, JwtVerifier, KeyRing, Principal, require
from aimds.errors import AimdsError, InputTooLarge, InvalidInput
from aimds.server.errors import ApiError
from aimds.server.logs import request_id
from aimds.server.metrics import Metrics
from aimds.server.schemas import BatchRequest, CheckRequest, FeedbackRequest
from aimds.server.settings import ServerSettings
from aimds.store.errors import StoreUnavailable

log = logging.getLogger("aimds.server")

CHECKERS = frozenset({ApiRole.CHECKER})
READERS = frozenset({ApiRole.CHECKER, ApiRole.AUDITOR})
AUDITORS = frozenset({ApiRole.AUDITOR})
FEEDBACK_STREAM = "feedback"
_MAX_PAGE = 1000

Handler = Callable[["Service", Request, Principal | None], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


class Service:
    """Holds what the routes share; one per worker process."""

    def __init__(self, settings: ServerSettings, guard: Any, store: Any, audit_key: bytes) -> None:
        self.settings, self.guard, self.store = settings, guard, store
        self.metrics = Metrics()
        self.audit = AuditLog(store)
        self.writer = AuditWriter(self.audit)
        self.audit_key = audit_key
        self.keys = KeyRing(store)
        jwt = None
        if settings.jwt_keys_file:
            jwt = JwtVerifier(settings.jwt_keys_file, settings.jwt_issuer or "", settings.jwt_audience or "",
                              settings.jwt_algorithms, settings.jwt_role_claim)
        self.authenticate = Authenticator(self.keys, jwt)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="aimds-io")
        self._remote_store = bool(getattr(store, "blocking_io", False))
        self._store_down_logged = False
        self._recent: dict[bytes, Principal] = {}

    # --- store access, honouring the failure mode ---------------------------------------------
    async def call_store(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store call (off the event loop when it does network I/O); failures are counted and logged."""
        try:
            if self._remote_store:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))
            return fn(*args, **kwargs)
        except StoreUnavailable as exc:
            self.metrics.store_errors.labels(op).inc()
            log.error("store operation failed", extra={"op": op, "error": str(exc),
                                                       "failure_mode": self.settings.store_failure})
            raise

    @property
    def fail_open(self) -> bool:
        return self.settings.store_failure == "open"

    # --- the per-request pipeline ---------------------------------------------------------------
    def endpoint(self, name: str, roles: frozenset[ApiRole] | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            rid = _request_id(request)
            token = request_id.set(rid)
            start = time.perf_counter()
            principal = None
            try:
                if roles is not None:
                    await self._limit("client", self.client_address(request),
                                      self.settings.rate_per_client_per_min, self.settings.burst_per_client)
                    principal = await self._authenticate(request)
                    require(principal, roles)
                    await self._limit("key", principal.actor, self.settings.rate_per_key_per_min,
                                      self.settings.burst_per_key)
                response = await handler(self, request, principal)
            except ApiError as exc:
                response = exc.response(rid)
            except (AuthError, Forbidden) as exc:
                status = exc.status
                headers = {"www-authenticate": 'Bearer realm="aimds"'} if status == 401 else None
                response = ApiError(status, exc.code, str(exc), headers=headers).response(rid)
            except StoreUnavailable:
                response = ApiError(503, "store_unavailable", "the state store is unavailable; try again",
                                    headers={"retry-after": "1"}).response(rid)
            except Exception:  # noqa: BLE001 - a bug must become a 500 with a request id, not a dropped connection
                log.exception("unhandled error", extra={"route": name})
                response = ApiError(500, "internal_error", "internal error; quote the request id").response(rid)
            finally:
                request_id.reset(token)
            elapsed = time.perf_counter() - start
            response.headers["x-request-id"] = rid
            self.metrics.requests.labels(name, str(response.status_code)).inc()
            self.metrics.request_latency.labels(name).observe(elapsed)
            if self.settings.access_log:
                log.info("request", extra={"request_id": rid, "route": name, "status": response.status_code,
                                           "ms": round(elapsed * 1000, 3),
                                           "actor": principal.actor if principal else None})
            return response

        return run

    def client_address(self, request: Request) -> str:
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()[:64]
        return request.client.host if request.client else "unknown"

    async def _authenticate(self, request: Request) -> Principal:
        """In fail-open mode a store outage still admits credentials this worker verified recently."""
        header = request.headers.get("authorization") or ""
        try:
            principal = await self.call_store("auth", self.authenticate, header)
        except StoreUnavailable:
            known = self._recent.get(hashlib.sha256(header.encode()).digest()) if self.fail_open else None
            if known is None:
                raise
            return known
        if self.fail_open:
            if len(self._recent) >= 10_000:
                self._recent.clear()
            self._recent[hashlib.sha256(header.encode()).digest()] = principal
        return principal

    async def _limit(self, scope: str, who: str, per_min: float, burst: float) -> None:
        try:
            allowed, wait = await self.call_store("rate_limit", self.store.take_tokens, f"rl:{scope}:{who}",
                                                  per_min / 60.0, burst)
        except StoreUnavailable:
            if self.fail_open:
                return
            raise
        if not allowed:
            self.metrics.rate_limited.labels(scope).inc()
            raise ApiError(429, "rate_limited", f"too many requests for this {scope}; retry later",
                           headers={"retry-after": str(max(1, int(wait + 0.999)))})

    async def read_json(self, request: Request, model: type[BaseModel]) -> Any:
        """Read the body within the size limit and the timeout, then validate it (422 names the field)."""
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
        ctype = request.headers.get("content-type", "application/json")
        if not ctype.startswith("application/json"):
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")

        async def read() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            body = await asyncio.wait_for(read(), self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(408, "request_timeout", "the request body did not arrive in time") from None
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            if err["type"] == "json_invalid":
                raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
            where = ".".join(str(p) for p in err["loc"]) or None
            raise ApiError(422, "validation_error", f"{where or 'body'}: {err['msg']}", field=where) from None

    # --- checking and recording -----------------------------------------------------------------
    def _check_text_size(self, text: str) -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(413, "text_too_large",
                           f"text is {len(text)} characters; the limit is {self.settings.max_text_chars}")

    async def run_guard(self, fn: Callable[[], Any], chars: int) -> Any:
        """Short texts run inline (no thread hop); long ones in a thread, bounded by the request timeout."""
        start = time.perf_counter()
        try:
            if chars <= self.settings.inline_check_chars:
                result = fn()
            else:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(loop.run_in_executor(self._pool, fn), self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, "check_timeout", "the check did not finish in time", headers={"retry-after": "1"}) from None
        except InputTooLarge as exc:
            raise ApiError(413, exc.code, str(exc)) from None
        except InvalidInput as exc:
            raise ApiError(422, exc.code, str(exc)) from None
        except AimdsError as exc:
            raise ApiError(400, exc.code, str(exc)) from None
        self.metrics.check_latency.observe(time.perf_counter() - start)
        return result

    def observe(self, verdict: Any) -> dict[str, Any]:
        data = verdict.to_dict()
        self.metrics.actions.labels(data["action"]).inc()
        if data["action"] == "block":
            self.metrics.blocks.inc()
        for finding in data["findings"]:
            self.metrics.findings.labels(finding["kind"]).inc()
        for detector, ms in (getattr(verdict, "timings", None) or {}).items():
            self.metrics.detector_latency.labels(detector).observe(ms / 1000.0)
        return data

    async def record(self, verdicts: list[dict[str, Any]], texts: list[str], principal: Principal,
                     client: str, route: str) -> dict[str, str]:
        """Commit the audit records and remember the verdicts; returns extra response headers."""
        entries = [decision_entry(v, t, self.audit_key, principal.actor, client, route) for v, t in zip(verdicts, texts)]
        futures = [asyncio.wrap_future(self.writer.submit(e)) for e in entries]
        try:
            seqs = await asyncio.wait_for(asyncio.gather(*futures), self.settings.request_timeout_s)
            for verdict, seq in zip(verdicts, seqs):
                verdict["audit_seq"] = seq
            kept = [(f"verdict:{v['id']}", orjson.dumps(_stored_verdict(v, principal))) for v in verdicts]
            await self.call_store("verdicts", self.store.set_many, kept, self.settings.verdict_ttl_s)
        except (StoreUnavailable, asyncio.TimeoutError, OSError) as exc:
            self.metrics.audit_failures.inc(len(verdicts))
            self.metrics.store_errors.labels("audit").inc()
            log.error("audit record not written", extra={"error": type(exc).__name__,
                                                         "failure_mode": self.settings.store_failure})
            if not self.fail_open:
                raise ApiError(503, "audit_unavailable", "the decision could not be recorded; try again",
                               headers={"retry-after": "1"}) from None
            return {"x-aimds-audit": "failed"}
        return {}

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        """Flush the audit queue. The store stays open: the app may be started again (tests, reloads)."""
        self.writer.close()


def _stored_verdict(verdict: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """What GET /v1/verdicts keeps: the verdict without the (possibly sensitive) sanitized text."""
    return {k: v for k, v in verdict.items() if k != "sanitized_text"} | {"owner": principal.actor}


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if 0 < len(given) <= 64 and given.replace("-", "").replace("_", "").isalnum():
        return given
    return uuid.uuid4().hex[:16]


# --- routes -----------------------------------------------------------------------------------

async def check(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: CheckRequest = await svc.read_json(request, CheckRequest)
    svc._check_text_size(body.text)
    fn = partial(svc.guard.check, body.text, role=body.role.value, session_id=body.session_id,
                 agent_id=body.agent_id, context=body.context)
    verdict = svc.observe(await svc.run_guard(fn, len(body.text)))
    headers = await svc.record([verdict], [body.text], principal, svc.client_address(request), "check")
    return json_response(verdict, headers=headers)


async def check_batch(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: BatchRequest = await svc.read_json(request, BatchRequest)
    if len(body.texts) > svc.settings.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(body.texts)} texts; the limit is {svc.settings.max_batch}")
    for text in body.texts:
        svc._check_text_size(text)
    fn = partial(svc.guard.check_many, body.texts, role=body.role.value, session_id=body.session_id,
                 agent_id=body.agent_id)
    verdicts = [svc.observe(v) for v in await svc.run_guard(fn, sum(map(len, body.texts)))]
    headers = await svc.record(verdicts, body.texts, principal, svc.client_address(request), "check_batch")
    return json_response({"verdicts": verdicts}, headers=headers)


async def feedback(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: FeedbackRequest = await svc.read_json(request, FeedbackRequest)
    if body.text is not None:
        svc._check_text_size(body.text)
    if body.verdict_id is not None:
        if await svc.call_store("verdicts", svc.store.get, f"verdict:{body.verdict_id}") is None:
            raise ApiError(404, "verdict_not_found", "no verdict with this id (unknown or expired)")
    item = body.model_dump(mode="json", exclude_none=True) | {"ts": time.time(), "actor": principal.actor}
    seq = await svc.call_store("feedback", svc.store.append, FEEDBACK_STREAM, canonical(item))
    return json_response({"id": seq}, status=201)


async def list_feedback(svc: Service, request: Request, principal: Principal | None) -> Response:
    after, limit = _int_param(request, "after", 0), _int_param(request, "limit", 100, 1, _MAX_PAGE)
    rows = await svc.call_store("feedback", svc.store.read, FEEDBACK_STREAM, after, limit)
    items = [orjson.loads(raw) | {"id": seq} for seq, raw in rows]
    return json_response({"items": items, "next_after": rows[-1][0] if rows else after})


async def get_verdict(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    verdict_id = request.path_params["verdict_id"]
    raw = None
    if 0 < len(verdict_id) <= 64:
        raw = await svc.call_store("verdicts", svc.store.get, f"verdict:{verdict_id}")
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
    after = _int_param(request, "after", 0)
    limit = _int_param(request, "limit", 100, 1, _MAX_PAGE) if fmt == "json" else \
        _int_param(request, "limit", 10_000_000, 1, 10_000_000)
    filters = {
        "since": _float_param(request, "since"),
        "until": _float_param(request, "until"),
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
              "audit_writer": "ok" if svc.writer.running else "stopped"}
    ready = ready and checks["audit_writer"] == "ok"
    status = "ready" if store_ok and ready else ("degraded" if ready else "unavailable")
    return json_response({"status": status, "checks": checks}, status=200 if ready else 503)


async def metrics(svc: Service, request: Request, principal: Principal | None) -> Response:
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(svc: Service, request: Request, principal: Principal | None) -> Response:
    from aimds.server.openapi import document

    return json_response(document(svc.settings))


def _int_param(request: Request, name: str, default: int, low: int = 0, high: int = 2**62) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(422, "validation_error", f"{name} must be an integer in [{low}, {high}]", field=name)
    return int(raw)


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value == value or value in (float("inf"), float("-inf")):
        raise ApiError(422, "validation_error", f"{name} must be a number (Unix time)", field=name)
    return value


ROUTES: list[tuple[str, str, str, frozenset[ApiRole] | None, Handler]] = [
    ("POST", "/v1/check", "check", CHECKERS, check),
    ("POST", "/v1/check/batch", "check_batch", CHECKERS, check_batch),
    ("POST", "/v1/feedback", "feedback", CHECKERS, feedback),
    ("GET", "/v1/feedback", "list_feedback", AUDITORS, list_feedback),
    ("GET", "/v1/verdicts/{verdict_id}", "get_verdict", READERS, get_verdict),
    ("GET", "/v1/audit", "audit", AUDITORS, audit),
    ("GET", "/v1/audit/verify", "audit_verify", AUDITORS, audit_verify),
    ("GET", "/healthz", "healthz", None, healthz),
    ("GET", "/readyz", "readyz", None, readyz),
    ("GET", "/metrics", "metrics", None, metrics),
    ("GET", "/openapi.json", "openapi", None, openapi),
]


def create_app(settings: ServerSettings | None = None, guard: Any = None, store: Any = None) -> Starlette:
    """Build the app; ``guard`` and ``store`` default to ones made from the settings."""
    settings = settings or ServerSettings()
    if guard is None:
        from aimds import Guard

        guard = Guard()
    if store is None:
        from aimds.store.factory import open_store

        store = open_store(settings.store_location, data_dir=settings.data_dir)
    key = bytes.fromhex(settings.audit_key.get_secret_value()) if settings.audit_key else load_or_create_key(settings.data_dir)
    svc = Service(settings, guard, store, key)
    routes = [Route(path, svc.endpoint(name, roles, handler), methods=[method], name=name)
              for method, path, name, roles, handler in ROUTES]
    if settings.bench_noop:
        routes.append(Route("/v1/noop", svc.endpoint("noop", CHECKERS, noop), methods=["POST"], name="noop"))
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc.start()
        yield
        svc.stop()

    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed}, lifespan=lifespan)
    app.state.service = svc
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return ApiError(404, "not_found", "no such route").response(_request_id(request))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return ApiError(405, "method_not_allowed", "method not allowed on this route").response(_request_id(request))
