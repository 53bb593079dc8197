"""Slow down clients that guess user names or keys: a token bucket of failed logins per client address.

The buckets live in the gateway process's memory: each gateway process counts on its own, and a restart
forgets. That bounds guessing per process without a shared store; 130-bit session ids do the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Past this many addresses, buckets that have refilled completely are forgotten.
_MAX_TRACKED = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    """Allow `burst` failed logins per address, earning back `per_minute` of them each minute."""

    def __init__(self, burst: int, per_minute: float) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def wait_seconds(self, address: str) -> float:
        """Return 0 when the address may try to log in, else how long it must wait."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return 0.0
        tokens = self._tokens(bucket, time.monotonic())
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / self.rate if self.rate else float("inf")

    def failed(self, address: str) -> None:
        """Count one failed login from the address."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(address, _Bucket(float(self.burst), now))
        bucket.tokens, bucket.updated = max(0.0, self._tokens(bucket, now) - 1), now
        if len(self._buckets) > _MAX_TRACKED:
            self._forget_full(now)

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        """Return the bucket's tokens at `now`, with those earned back since it was last counted."""
        return min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)

    def _forget_full(self, now: float) -> None:
        for address in [a for a, b in self._buckets.items() if self._tokens(b, now) >= self.burst]:
            del self._buckets[address]
