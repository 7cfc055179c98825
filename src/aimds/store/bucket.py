"""Token-bucket arithmetic shared by the stores that compute it in Python."""

from __future__ import annotations


def refill(
    tokens: float, last: float, now: float, rate: float, burst: float, cost: float
) -> tuple[bool, float, float]:
    """Return (allowed, tokens left, seconds until ``cost`` tokens are available)."""
    if rate <= 0 or burst <= 0:
        raise ValueError("token bucket needs a positive rate and burst")
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= cost:
        return True, tokens - cost, 0.0
    return False, tokens, (cost - tokens) / rate
