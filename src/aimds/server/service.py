"""What every route shares, one per worker process: the guard, the store, auth, limits, audit, metrics.

`Service.endpoint` wraps each handler in the per-request pipeline: request id, authentication, both
rate limits (client address and key) in one store call, role check, the handler, then metrics and one
JSON log line. No Starlette middleware (it costs a task per request); errors become `ApiError`
responses. A decision is answered only after its audit record is durably committed (group commit, see
`aimds.server.commit`), unless the store failure mode is "open" and the store is down, which the
response header ``x-aimds-audit: failed`` says.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from aimds.audit import AuditLog, Keep, decision_entry, text_mac
from aimds.auth import ApiRole, Authenticator, AuthError, Forbidden, JwtVerifier, KeyRing, Principal, require
from aimds.errors import AimdsError, InputTooLarge, InvalidInput
from aimds.server.admission import GroupAdmission
from aimds.server.batcher import CheckBatcher
from aimds.server.commit import committer_for
from aimds.server.deadlines import Deadlines
from aimds.server.errors import ApiError
from aimds.server.http import Handler, add_request_id, request_header, request_id_of, within
from aimds.server.logs import request_id
from aimds.server.metrics import Metrics
from aimds.server.settings import ServerSettings
from aimds.store.errors import StoreUnavailable

log = logging.getLogger("aimds.server")

FastParse = Callable[[Any], Any]
# Per-detector timings are observed for one verdict in this many: a histogram observation per detector
# per text was a measurable part of a fast check, and a sample shows the same distribution.
DETECTOR_SAMPLE = 8


class Service:
    def __init__(self, settings: ServerSettings, guard: Any, store: Any, audit_key: bytes) -> None:
        self.settings, self.guard, self.store = settings, guard, store
        self.metrics = Metrics()
        self.audit = AuditLog(store)
        self.remote_store = bool(getattr(store, "blocking_io", False))
        self.committer = committer_for(self.audit, settings.verdict_ttl_s, self.remote_store)
        self.audit_key = audit_key
        self._text_mac = text_mac(audit_key)
        self.keys = KeyRing(store)
        jwt = None
        if settings.jwt_keys_file:
            jwt = JwtVerifier(settings.jwt_keys_file, settings.jwt_issuer or "", settings.jwt_audience or "",
                              settings.jwt_algorithms, settings.jwt_role_claim)
        self.authenticate = Authenticator(self.keys, jwt)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="aimds-io")
        self.admission = GroupAdmission(self._admit_many, self._pool if self.remote_store else None)
        self.batcher = CheckBatcher(guard)
        self.deadlines = Deadlines(settings.request_timeout_s)
        # Anonymizing redaction reads and writes the vault in the store while checking.
        self.blocking_checks = self.remote_store and getattr(guard.settings, "redact_mode", "") == "anonymize"
        self._store_down_logged = False
        self._observed = 0
        self._recent: dict[bytes, Principal] = {}
        self._agents: Any = None
        self._agents_lock = threading.Lock()

    @property
    def fail_open(self) -> bool:
        return self.settings.store_failure == "open"

    @property
    def agents(self) -> Any:
        """The agent runtime defence, keeping its shared state (reviews, quarantine) in this store."""
        if self._agents is None:
            with self._agents_lock:
                if self._agents is None:
                    from aimds.agents.defense import AgentDefense

                    s = self.settings
                    self._agents = AgentDefense(
                        self.guard, store=self.store, fail_closed=self.guard.settings.fail_closed,
                        policies=[str(p) for p in s.agent_policies] or None,
                        lists=s.agent_lists, fallbacks=s.agent_fallbacks,
                    )
        return self._agents

    # --- store access, honouring the failure mode ---------------------------------------------
    def store_failed(self, op: str, exc: BaseException) -> None:
        self.metrics.labelled(self.metrics.store_errors, op).inc()
        log.error("store operation failed", extra={"op": op, "error": str(exc),
                                                   "failure_mode": self.settings.store_failure})

    async def offload(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` off the event loop when the store does network I/O, else inline (a thread hop
        costs more than a local SQLite or memory operation)."""
        if not self.remote_store:
            return fn(*args, **kwargs)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(context.run, fn, *args, **kwargs))

    async def call_store(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.offload(fn, *args, **kwargs)
        except StoreUnavailable as exc:
            self.store_failed(op, exc)
            raise

    # --- the per-request pipeline ---------------------------------------------------------------
    def endpoint(self, name: str, roles: frozenset[ApiRole] | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        metrics = self.metrics
        latency = metrics.labelled(metrics.request_latency, name)

        async def run(request: Request) -> Response:
            rid = request_id_of(request)
            token = request_id.set(rid)
            start = time.perf_counter()
            principal = None
            try:
                if roles is not None:
                    authorization = request_header(request, b"authorization") or ""
                    principal = await self._admit(authorization, self.client_address(request))
                    require(principal, roles)
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
            add_request_id(response, rid)
            metrics.count(metrics.labelled(metrics.requests, name, str(response.status_code)))
            metrics.time(latency, elapsed)
            if self.settings.access_log:
                log.info("request", extra={"request_id": rid, "route": name, "status": response.status_code,
                                           "ms": round(elapsed * 1000, 3),
                                           "actor": principal.actor if principal else None})
            return response

        return run

    def client_address(self, request: Request) -> str:
        if self.settings.trust_forwarded_for:
            forwarded = request_header(request, b"x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()[:64]
        client = request.scope.get("client")
        return client[0] if client else "unknown"

    async def _admit(self, header: str, client: str) -> Principal:
        if not self.remote_store:  # admitted on this loop at the end of the pass: nothing to time out
            return await self.admission.admit(header, client)
        try:
            return await self.deadlines.bound(self.admission.admit(header, client))
        except asyncio.TimeoutError:
            exc = StoreUnavailable("authentication and rate limits did not answer in time")
            self.store_failed("admission", exc)
            raise exc from None

    def _admit_many(self, requests: list[tuple[str, str]]) -> list[Principal | Exception]:
        """Authenticate each (header, client address), then take every request's tokens -- its
        address's, and its key's once known -- in one store call. A failed authentication still
        costs the address a token, so guessing keys is rate limited too."""
        try:
            outcomes = self._principals([header for header, _ in requests])
        except StoreUnavailable as exc:
            return [exc] * len(requests)
        scopes = [[] if isinstance(outcome, StoreUnavailable)
                  else [("client", client)] + ([("key", outcome.actor)] if isinstance(outcome, Principal) else [])
                  for outcome, (_, client) in zip(outcomes, requests)]
        try:
            taken = iter(self._take([scope for own in scopes for scope in own]))
        except StoreUnavailable as exc:
            if not self.fail_open:
                return [exc] * len(requests)
            taken = iter([])
            scopes = [[] for _ in scopes]
        admitted: list[Principal | Exception] = []
        for outcome, own in zip(outcomes, scopes):
            refused = [(scope, wait) for (scope, _), (allowed, wait) in zip(own, taken) if not allowed]
            if refused:
                scope, wait = refused[0]
                self.metrics.labelled(self.metrics.rate_limited, scope).inc()
                outcome = ApiError(429, "rate_limited", f"too many requests for this {scope}; retry later",
                                   headers={"retry-after": str(max(1, int(wait + 0.999)))})
            admitted.append(outcome)
        return admitted

    def _principals(self, headers: list[str]) -> list[Principal | Exception]:
        """In fail-open mode a store outage still admits credentials this worker verified recently."""
        try:
            outcomes: list[Principal | Exception] = list(self.authenticate.many(headers))
        except StoreUnavailable as exc:
            self.store_failed("auth", exc)
            if not self.fail_open:
                raise
            return [self._recent.get(hashlib.sha256(h.encode()).digest()) or exc for h in headers]
        if self.fail_open:
            for header, outcome in zip(headers, outcomes):
                if isinstance(outcome, Principal):
                    if len(self._recent) >= 10_000:
                        self._recent.clear()
                    self._recent[hashlib.sha256(header.encode()).digest()] = outcome
        return outcomes

    def _take(self, scopes: list[tuple[str, str]]) -> list[tuple[bool, float]]:
        s = self.settings
        limits = {"client": (s.rate_per_client_per_min / 60.0, s.burst_per_client),
                  "key": (s.rate_per_key_per_min / 60.0, s.burst_per_key)}
        buckets = [(f"rl:{scope}:{who}", *limits[scope], 1.0) for scope, who in scopes]
        if not buckets:
            return []
        try:
            take_many = getattr(self.store, "take_tokens_many", None)
            return take_many(buckets) if take_many else [self.store.take_tokens(*b) for b in buckets]
        except StoreUnavailable as exc:
            self.store_failed("rate_limit", exc)
            raise

    # --- request bodies -------------------------------------------------------------------------
    def check_length(self, request: Request) -> None:
        limit = self.settings.max_body_bytes
        length = request_header(request, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")

    async def read_body(self, request: Request) -> bytes:
        """The whole body, within the size limit and the request timeout (a `Deadlines` watch on the
        task: most bodies are there at once, and `asyncio.timeout` cost 30 times the read itself)."""
        self.check_length(request)
        limit = self.settings.max_body_bytes

        task = asyncio.current_task()
        assert task is not None
        watch = self.deadlines.watch(task)
        chunks, size = [], 0
        receive = request.receive  # not `request.stream()`: its async generator cost 2 us per body
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if not watch.expired:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise ApiError(408, "request_timeout", "the request body did not arrive in time") from None
        finally:
            watch.release()
        return b"".join(chunks)

    async def read_json(self, request: Request, model: type[BaseModel], fast: FastParse | None = None,
                        optional: bool = False) -> Any:
        """Read and validate a JSON body (422 names the field). ``fast`` accepts the common, plainly
        valid bodies without pydantic; anything it does not accept goes through the model, so errors
        are always the model's. With ``optional``, an empty body means the model's defaults."""
        ctype = request_header(request, b"content-type")
        if ctype is None:
            ctype = "application/json"
        if not ctype.startswith("application/json"):
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        body = await self.read_body(request)
        if optional and not body.strip():
            body = b"{}"
        if fast is not None:
            try:
                parsed = fast(orjson.loads(body))
            except orjson.JSONDecodeError:
                parsed = None
            if parsed is not None:
                return parsed
        return validate(model, body)

    def check_text_size(self, text: str, what: str = "text") -> None:
        if len(text) > self.settings.max_text_chars:
            raise ApiError(413, f"{what}_too_large",
                           f"{what} is {len(text)} characters; the limit is {self.settings.max_text_chars}")

    # --- checking and recording -----------------------------------------------------------------
    async def check_text(self, text: str, role: str, session_id: str | None, agent_id: str | None,
                         context: dict[str, Any] | None) -> Any:
        """One text's verdict: short ones with the others of this loop pass (`CheckBatcher`), the
        rest through `run_guard`."""
        if context or len(text) > self.settings.inline_check_chars or self.blocking_checks:
            fn = partial(self.guard.check, text, role=role, session_id=session_id, agent_id=agent_id, context=context)
            return await self.run_guard(fn, len(text), self.blocking_checks)
        start = time.perf_counter()
        try:
            verdict = await self.batcher.check(text, role, session_id, agent_id)
        except AimdsError as exc:
            raise _guard_error(exc) from None
        self.metrics.time(self.metrics.check_latency, time.perf_counter() - start)
        return verdict

    async def run_guard(self, fn: Callable[[], Any], chars: int, blocking_io: bool = False) -> Any:
        """Short texts run inline (no thread hop); long ones, and work that waits on a remote store,
        in a thread bounded by the request timeout. Guard errors become 4xx answers."""
        start = time.perf_counter()
        try:
            if chars <= self.settings.inline_check_chars and not blocking_io:
                result = fn()
            else:
                context = contextvars.copy_context()
                loop = asyncio.get_running_loop()
                result = await within(loop.run_in_executor(self._pool, context.run, fn), self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, "check_timeout", "the check did not finish in time", headers={"retry-after": "1"}) from None
        except AimdsError as exc:
            raise _guard_error(exc) from None
        self.metrics.time(self.metrics.check_latency, time.perf_counter() - start)
        return result

    async def run_guard_slices(self, check_many: Callable[[list[str]], list[Any]], texts: list[str],
                               blocking_io: bool = False) -> list[Any]:
        """A batch in slices of at most ``inline_check_chars`` characters, each inline (or, for one long
        text, in a thread), yielding to the event loop in between. A whole batch in a thread made every
        store call on the event loop wait for the GIL behind it, a switch interval (5 ms) at a time."""
        limit, deadline = self.settings.inline_check_chars, time.monotonic() + self.settings.request_timeout_s
        out: list[Any] = []
        start = 0
        while start < len(texts):
            end, chars = start + 1, len(texts[start])
            while end < len(texts) and chars + len(texts[end]) <= limit:
                chars += len(texts[end])
                end += 1
            if out:
                await asyncio.sleep(0)
                if time.monotonic() > deadline:
                    raise ApiError(503, "check_timeout", "the check did not finish in time", headers={"retry-after": "1"})
            out += await self.run_guard(partial(check_many, texts[start:end]), chars, blocking_io)
            start = end
        return out

    def observe(self, verdict: Any) -> dict[str, Any]:
        m = self.metrics
        data = verdict.to_dict()
        m.count(m.labelled(m.actions, data["action"]))
        if data["action"] == "block":
            m.count(m.blocks)
        for finding in data["findings"]:
            m.count(m.labelled(m.findings, finding["kind"]))
        self._observed += 1
        if self._observed % DETECTOR_SAMPLE == 0:
            for detector, ms in (getattr(verdict, "timings", None) or {}).items():
                m.time(m.labelled(m.detector_latency, detector), ms / 1000.0)
        return data

    async def record(self, verdicts: list[dict[str, Any]], texts: list[str], principal: Principal,
                     client: str, route: str, keep: bool = True) -> dict[str, str]:
        """Commit the audit records (and, with ``keep``, the verdicts for GET /v1/verdicts) before the
        caller answers; sets ``audit_seq`` on each verdict. Returns extra response headers."""
        entries = [decision_entry(v, t, self._text_mac, principal.actor, client, route) for v, t in zip(verdicts, texts)]
        kept = partial(_verdict_values, verdicts, principal.actor) if keep else partial(_set_seqs, verdicts)
        return await self.commit(entries, kept, len(verdicts))

    async def record_action(self, entry: dict[str, Any]) -> dict[str, str]:
        """Audit an administrative action (quarantine, release, review decision, canary issued)."""
        self.metrics.labelled(self.metrics.admin_actions, entry["event"]).inc()
        return await self.commit([entry], None, 1)

    async def commit(self, entries: list[dict[str, Any]], keep: Keep | None, count: int) -> dict[str, str]:
        try:
            await self.deadlines.bound(self.committer.submit(entries, keep))
        except (StoreUnavailable, asyncio.TimeoutError, OSError) as exc:
            self.metrics.audit_failures.inc(count)
            self.store_failed("audit", exc)
            if not self.fail_open:
                raise ApiError(503, "audit_unavailable", "the decision could not be recorded; try again",
                               headers={"retry-after": "1"}) from None
            return {"x-aimds-audit": "failed"}
        return {}

    def start(self) -> None:
        self.committer.start()
        self.metrics.apply()  # a tally a previous loop left unapplied, and its apply no longer pending

    def stop(self) -> None:
        """Store what is queued, apply the metrics' tally (the loop may not run another pass). The store
        stays open: the app may be started again (tests, reloads)."""
        self.committer.stop()
        self.metrics.apply()


def _guard_error(exc: AimdsError) -> Exception:
    """What a failed check answers: 413 too large, 422 invalid, 400 otherwise; a store outage stays
    itself (503, or the configured failure mode)."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, InputTooLarge):
        return ApiError(413, exc.code, str(exc))
    if isinstance(exc, InvalidInput):
        return ApiError(422, exc.code, str(exc))
    return ApiError(400, exc.code, str(exc))


def validate(model: type[BaseModel], body: bytes | str) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "json_invalid":
            raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
        where = ".".join(str(p) for p in err["loc"]) or None
        raise ApiError(422, "validation_error", f"{where or 'body'}: {err['msg']}", field=where) from None


def _set_seqs(verdicts: list[dict[str, Any]], seqs: list[int]) -> list[tuple[str, bytes]]:
    for verdict, seq in zip(verdicts, seqs):
        verdict["audit_seq"] = seq
    return []


def _verdict_values(verdicts: list[dict[str, Any]], owner: str, seqs: list[int]) -> list[tuple[str, bytes]]:
    """What GET /v1/verdicts keeps: each verdict without the (possibly sensitive) sanitized text."""
    _set_seqs(verdicts, seqs)
    values = []
    for verdict in verdicts:
        value = verdict.copy()
        value.pop("sanitized_text", None)
        value["owner"] = owner
        values.append((f"verdict:{verdict['id']}", orjson.dumps(value)))
    return values

