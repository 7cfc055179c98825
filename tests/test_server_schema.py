"""Property-based fuzzing of every operation in the OpenAPI document: no input may cause a 5xx."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from aimds.auth import KeyRing
from aimds.server.app import create_app
from aimds.server.settings import ServerSettings
from aimds.store import MemoryStore
from server_support import make_guard

_store = MemoryStore()
_admin = KeyRing(_store).create("admin")[0]
_app = create_app(
    ServerSettings(data_dir=tempfile.mkdtemp(prefix="aimds-schema-"), access_log=False, rate_per_key_per_min=1e9, burst_per_key=1e9, rate_per_client_per_min=1e9,
                   burst_per_client=1e9, max_text_chars=5000, max_batch=16),
    guard=make_guard(), store=_store,
)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:  # noqa: ANN001 - the streaming route's body: any string, sent as is
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else repr(value).encode()


schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:
    response = case.call(headers={"authorization": f"Bearer {_admin}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
