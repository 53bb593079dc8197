"""One place turns a session id into every name derived from it."""

from __future__ import annotations

from engine import names
from gateway.usernames import parse as parse_user
from router.hostnames import DirectName, MachineName
from router.hostnames import parse as parse_host
from sessions.models import new_session_id


def test_it_names_a_sessions_engine_objects() -> None:
    sid = new_session_id()
    assert names.network(sid) == f"pg-{sid}"
    assert names.bridge(sid).startswith(names.BRIDGE_PREFIX) and len(names.bridge(sid)) <= 15
    first, second = names.container(sid, "node1"), names.container(sid, "node1")
    assert first.startswith(f"pg-{sid[:8]}-node1-") and first != second


def test_it_writes_the_names_it_reads_back() -> None:
    sid = new_session_id()
    proxy = names.proxy_host("10.213.0.2", sid)
    assert proxy == f"ip10-213-0-2-{sid}"
    assert names.parse_proxy_host(proxy) == ("10.213.0.2", sid)
    assert parse_host(names.direct_host(proxy, 8080, "localhost"), "localhost") == DirectName("10.213.0.2", sid, 8080)
    assert parse_user(proxy).session == sid
    assert parse_user(f"10-213-0-2-{names.short(sid)}").session == names.short(sid)
    machine = f"pwdnode1-{names.short(sid)}-2375.localhost"
    assert parse_host(machine, "localhost") == MachineName("node1", names.short(sid), 2375)
