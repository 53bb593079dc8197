"""The failed-login token bucket (pure logic, with a fake clock)."""

import pytest

from gateway import ratelimit
from gateway.ratelimit import FailureLimiter


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    return now


def test_it_allows_a_burst_then_asks_to_wait(clock: list[float]) -> None:
    limiter = FailureLimiter(burst=3, per_minute=6)
    for _ in range(3):
        assert limiter.wait_seconds("198.51.100.7") == 0
        limiter.failed("198.51.100.7")
    assert limiter.wait_seconds("198.51.100.7") == pytest.approx(10)
    assert limiter.wait_seconds("203.0.113.9") == 0


def test_it_earns_attempts_back_over_time(clock: list[float]) -> None:
    limiter = FailureLimiter(burst=2, per_minute=6)
    limiter.failed("198.51.100.7")
    limiter.failed("198.51.100.7")
    clock[0] += 10
    assert limiter.wait_seconds("198.51.100.7") == 0
    limiter.failed("198.51.100.7")
    assert limiter.wait_seconds("198.51.100.7") > 0
