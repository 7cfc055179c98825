"""Routes for the model's side: answer checks (whole or streamed), canaries, deanonymization.

Streaming (``POST /v1/check/output/stream``): the request body is the answer as it is generated,
either ``text/plain`` (each piece of the chunked body is one chunk) or ``application/x-ndjson`` (one
``{"chunk": "..."}`` per line, optionally preceded by ``{"prompt": ..., "session_id": ...}``). The
response is NDJSON, written as the body arrives: ``{"chunk": "..."}`` for each piece that passed the
checks (a short tail is held back until the next chunk so a secret split across chunks is still
caught), then exactly one final line: ``{"done": true, "verdict": {...}}``, or on the first blocking
finding ``{"blocked": true, "offset": N, "emitted": M, "finding": {...}, "verdict": {...}}`` (``offset``:
where the finding starts in the answer; ``emitted``: characters already passed on), or
``{"error": {"code", "message", "request_id"}}`` when the body turns bad half-way. The verdict is in
the audit trail before that final line is sent.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aimds.auth import ApiRole, Principal
from aimds.audit import action_entry
from aimds.errors import AimdsError, InputTooLarge
from aimds.server.errors import ApiError
from aimds.server.http import json_response, within
from aimds.server.logs import request_id
from aimds.server.schemas import DeanonymizeRequest, OutputCheckRequest, StreamChunk, StreamHeader
from aimds.server.service import Service, validate
from aimds.types import Action, Role, Verdict, strictest

MAX_LINE_BYTES = 1_048_576


async def check_output(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    body: OutputCheckRequest = await svc.read_json(request, OutputCheckRequest)
    svc.check_text_size(body.answer, "answer")
    if body.prompt is not None:
        svc.check_text_size(body.prompt, "prompt")
    fn = partial(svc.guard.check_output, body.answer, prompt=body.prompt, session_id=body.session_id)
    verdict = svc.observe(await svc.run_guard(fn, len(body.answer) + len(body.prompt or "")))
    headers = await svc.record([verdict], [body.answer], principal, svc.client_address(request), "check_output")
    return json_response(verdict, headers=headers)


async def check_output_stream(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-ndjson", "text/plain")):
        raise ApiError(415, "unsupported_media_type", "stream the answer as text/plain or application/x-ndjson")
    svc.check_length(request)
    pieces = _pieces(svc, request)
    header = StreamHeader()
    if ctype.startswith("application/x-ndjson"):
        lines = _lines(pieces)
        first = await anext(lines, None)
        if first is not None:
            data = _json_line(first)
            if "chunk" not in data:
                header = validate(StreamHeader, first)
                first = None
        chunks: AsyncIterator[str] = _chunks_from_lines(first, lines)
    else:
        chunks = _text_chunks(pieces)
    if header.prompt is not None:
        svc.check_text_size(header.prompt, "prompt")
    run = _StreamRun(svc, principal, svc.client_address(request), header, chunks, request_id.get())
    return NdjsonStream(run.events())


class _StreamRun:
    """One streamed answer: feeds chunks to the guard's stream scanner and turns its outcome into
    NDJSON events, auditing the verdict before the final event."""

    def __init__(self, svc: Service, principal: Principal, client: str, header: StreamHeader,
                 chunks: AsyncIterator[str], rid: str | None) -> None:
        self.svc, self.principal, self.client, self.header, self.rid = svc, principal, client, header, rid
        self.received: list[str] = []
        self._chunks = chunks

    async def _tap(self) -> AsyncIterator[str]:
        async for chunk in self._chunks:
            self.received.append(chunk)
            self.svc.metrics.stream_chunks.inc()
            yield chunk

    async def events(self) -> AsyncIterator[bytes]:
        from aimds.output import StreamBlocked

        started = time.perf_counter()
        stream = self.svc.guard.stream_output(self._tap(), prompt=self.header.prompt)
        try:
            async for passed in stream:
                yield orjson.dumps({"chunk": passed}) + b"\n"
        except StreamBlocked as blocked:
            verdict = self._verdict([blocked.finding], started, Action.BLOCK)
            tail = await self._audit(verdict)
            yield orjson.dumps({"blocked": True, "offset": blocked.offset, "emitted": blocked.emitted,
                                "finding": blocked.finding.to_dict(), "verdict": verdict} | tail) + b"\n"
            return
        except ApiError as exc:
            yield self._error(exc.code, exc.message)
            return
        except InputTooLarge as exc:
            yield self._error("answer_too_large", str(exc))
            return
        except AimdsError as exc:
            yield self._error(exc.code, str(exc))
            return
        findings = list(stream.findings)
        verdict = self._verdict(findings, started, None)
        tail = await self._audit(verdict)
        yield orjson.dumps({"done": True, "verdict": verdict} | tail) + b"\n"

    def _verdict(self, findings: list[Any], started: float, action: Action | None) -> dict[str, Any]:
        scanner = self.svc.guard.output_scanner
        if action is None:
            action = strictest([scanner.action_for(f) for f in findings])
        verdict = Verdict(action=action, risk=max((f.score for f in findings), default=0.0), findings=tuple(findings),
                          role=Role.ASSISTANT, latency_ms=(time.perf_counter() - started) * 1000,
                          session_id=self.header.session_id)
        return self.svc.observe(verdict)

    async def _audit(self, verdict: dict[str, Any]) -> dict[str, Any]:
        try:
            headers = await self.svc.record([verdict], ["".join(self.received)], self.principal, self.client,
                                            "check_output_stream")
        except ApiError as exc:
            return {"error": {"code": exc.code, "message": exc.message, "request_id": self.rid}}
        return {"audit": "failed"} if headers else {}

    def _error(self, code: str, message: str) -> bytes:
        return orjson.dumps({"error": {"code": code, "message": message, "request_id": self.rid}}) + b"\n"


async def _pieces(svc: Service, request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives, each wait bounded by the request timeout, the total by max_body_bytes."""
    limit, size = svc.settings.max_body_bytes, 0
    stream = request.stream().__aiter__()
    while True:
        try:
            piece = await within(anext(stream, None), svc.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(408, "request_timeout", "the stream stalled longer than the request timeout") from None
        if piece is None:
            return
        size += len(piece)
        if size > limit:
            raise ApiError(413, "body_too_large", f"stream body exceeds {limit} bytes")
        if piece:
            yield piece


async def _lines(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for piece in pieces:
        pending += piece
        *complete, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise ApiError(413, "line_too_large", f"an NDJSON line exceeds {MAX_LINE_BYTES} bytes")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _json_line(line: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "an NDJSON line is not valid JSON") from None
    if type(data) is not dict:
        raise ApiError(422, "validation_error", "each NDJSON line must be a JSON object")
    return data


async def _chunks_from_lines(first: bytes | None, lines: AsyncIterator[bytes]) -> AsyncIterator[str]:
    if first is not None:
        yield _chunk(first)
    async for line in lines:
        yield _chunk(line)


def _chunk(line: bytes) -> str:
    data = _json_line(line)
    chunk = data.get("chunk")
    if type(chunk) is str and len(data) == 1:
        return chunk
    return validate(StreamChunk, line).chunk  # raises the model's 4xx for anything else


async def _text_chunks(pieces: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """UTF-8 decoded incrementally, so a character split across pieces is not mangled."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        async for piece in pieces:
            text = decoder.decode(piece)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_text", "the stream body is not valid UTF-8") from None
    if tail:
        yield tail


class NdjsonStream(Response):
    """An NDJSON response written as events come. Unlike Starlette's StreamingResponse it does not
    read from the client while it writes, because the handler is still reading the request body."""

    media_type = "application/x-ndjson"

    def __init__(self, events: AsyncIterator[bytes]) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.init_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for line in self.events:
            await send({"type": "http.response.body", "body": line, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def canary(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    token = svc.guard.canary()
    shared = svc.guard.settings.canary_key is not None
    headers = await svc.record_action(action_entry("canary", principal.actor, svc.client_address(request),
                                                   shared=shared))
    return json_response({"canary": token, "shared": shared}, status=201, headers=headers)


async def deanonymize(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    if svc.guard.settings.redact_mode != "anonymize":
        raise ApiError(409, "anonymize_off", "redact_mode is not 'anonymize': there is nothing to restore")
    body: DeanonymizeRequest = await svc.read_json(request, DeanonymizeRequest)
    svc.check_text_size(body.text)
    fn = partial(svc.guard.deanonymize, body.text, body.session_id)
    text = await svc.run_guard(fn, len(body.text), blocking_io=svc.remote_store)
    return json_response({"text": text})


def routes(checkers: frozenset[ApiRole], admins: frozenset[ApiRole]) -> list[tuple[Any, ...]]:
    return [
        ("POST", "/v1/check/output", "check_output", checkers, check_output),
        ("POST", "/v1/check/output/stream", "check_output_stream", checkers, check_output_stream),
        ("POST", "/v1/canary", "canary", admins, canary),
        ("POST", "/v1/deanonymize", "deanonymize", checkers, deanonymize),
    ]
