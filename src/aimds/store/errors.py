"""Store failures, typed so the server can answer 503 and apply its configured failure mode."""

from __future__ import annotations

from aimds.errors import AimdsError


class StoreUnavailable(AimdsError):
    """The backing store cannot be reached or refused the operation; nothing was written."""

    code = "store_unavailable"
