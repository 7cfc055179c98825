"""Store failures, typed so the server can answer 503 and apply its configured failure mode."""

from __future__ import annotations

from aimds.errors import AimdsError


class StoreUnavailable(AimdsError):
    """The backing store cannot be reached or refused the operation; nothing was written."""

    code = "store_unavailable"


class StoreBusy(StoreUnavailable):
    """Another process holds the write lock right now; nothing was written. Asked for by callers that
    must not wait (the server's event loop), which retry a moment later."""

    code = "store_busy"
