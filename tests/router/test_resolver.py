"""Lookups of one name are asked once at a time and remembered briefly; refusals are never remembered."""

from __future__ import annotations

import asyncio

from router.hostnames import DirectName, Name
from router.routes import Resolver, Target

NAME = DirectName("10.213.0.2", "abc", 80)
TARGET = Target("10.213.0.2", 80, "node1")


class Database:
    """Answer lookups after a pause, counting them."""

    def __init__(self, answer: Target | None) -> None:
        self.answer = answer
        self.asked = 0

    async def __call__(self, name: Name, tls: bool) -> Target | None:
        self.asked += 1
        await asyncio.sleep(0.01)
        return self.answer


async def test_it_asks_once_for_many_connections_at_a_time() -> None:
    database = Database(TARGET)
    resolver = Resolver(ttl=60, query=database)
    answers = await asyncio.gather(*(resolver(NAME, False) for _ in range(20)))
    assert answers == [TARGET] * 20
    assert database.asked == 1


async def test_it_asks_again_once_a_route_is_stale() -> None:
    database = Database(TARGET)
    resolver = Resolver(ttl=0.05, query=database)
    await resolver(NAME, False)
    await resolver(NAME, False)
    await asyncio.sleep(0.06)
    await resolver(NAME, False)
    assert database.asked == 2


async def test_it_never_remembers_a_refusal() -> None:
    database = Database(None)
    resolver = Resolver(ttl=60, query=database)
    assert await resolver(NAME, False) is None
    database.answer = TARGET
    assert await resolver(NAME, False) == TARGET
