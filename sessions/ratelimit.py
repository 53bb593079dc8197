"""Count attempts per client in Redis (Django's cache), so every web process shares one limit."""

from django.core.cache import cache


def allow(scope: str, client: str, per_minute: int) -> bool:
    """Count one attempt by client; tell whether it stays within per_minute (0: no limit)."""
    if per_minute <= 0:
        return True
    key = f"rate:{scope}:{client}"
    # The window opens with the first attempt and closes a minute later.
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key) <= per_minute
    except ValueError:  # the window closed between add and incr
        cache.add(key, 1, timeout=60)
        return True
