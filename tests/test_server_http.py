"""JSON responses built as raw header pairs: the same head Starlette's `Response` would send."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from aimds.server.http import JsonResponse, add_request_id, json_response


def test_json_response_sends_the_head_and_body_starlette_would() -> None:
    data = {"id": "v1", "action": "block", "findings": [{"kind": "pii"}], "text": "é"}
    ours = json_response(data, 201, {"X-Aimds-Audit": "failed"})
    theirs = Response(orjson.dumps(data), status_code=201, media_type="application/json",
                      headers={"X-Aimds-Audit": "failed"})
    assert (ours.status_code, ours.body, ours.raw_headers) == (theirs.status_code, theirs.body, theirs.raw_headers)
    assert ours.headers["content-length"] == str(len(orjson.dumps(data)))
    assert json_response([]).raw_headers == [(b"content-length", b"2"), (b"content-type", b"application/json")]


def test_request_id_is_added_once_to_any_response() -> None:
    fast = json_response({"ok": True})
    add_request_id(fast, "abc-1")
    assert fast.headers.getlist("x-request-id") == ["abc-1"]
    other = Response(b"x", headers={"x-request-id": "stale"})
    add_request_id(other, "abc-2")
    assert other.headers.getlist("x-request-id") == ["abc-2"]
    assert isinstance(fast, JsonResponse) and not isinstance(other, JsonResponse)


def test_request_header_reads_the_first_value_of_a_header_as_starlette_does() -> None:
    from starlette.requests import Request

    from aimds.server.http import request_header

    raw = [(b"host", b"x"), (b"authorization", b"Bearer first"), (b"x-forwarded-for", b"1.2.3.4"),
           (b"authorization", b"Bearer second"), (b"content-type", b"")]
    request = Request({"type": "http", "headers": raw})
    for name in ("authorization", "x-forwarded-for", "content-type", "x-request-id"):
        assert request_header(request, name.encode()) == request.headers.get(name)
    assert request_header(request, b"authorization") == "Bearer first" and request_header(request, b"content-type") == ""
