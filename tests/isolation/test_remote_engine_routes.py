"""The router and ssh tunnels connect from this host to an instance's address: an engine on another host may hand
out the subnet a session here has, so a learner there must not reach, by their own instance's name, the instance
here that has the same address (issue 17)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from engine.daemon import Daemon
from gateway import access
from router.hostnames import DirectName
from router.routes import Target, resolve
from sessions.models import Engine, Instance, Playground, Session

GIB = 2**30
SAME_IP = "10.213.5.2"


def session_with_instance(playground: Playground, engine: Engine) -> Session:
    session = Session.objects.create(
        playground=playground, engine=engine, expires_at=timezone.now() + timedelta(hours=1)
    )
    Instance.objects.create(
        session=session,
        name=f"{session.id}-node1",
        hostname="node1",
        image="x",
        ip=SAME_IP,
        state=Instance.State.RUNNING,
    )
    return session


def test_an_instance_on_another_hosts_engine_is_not_routed_to_the_same_address_here(playground: Playground) -> None:
    here = Engine.objects.create(name="here", url=settings.SANDBOX_ENGINE, memory_bytes=GIB)
    there = Engine.objects.create(name="there", url="tcp://10.0.0.12:2375", memory_bytes=GIB)
    victim = session_with_instance(playground, here)
    attacker = session_with_instance(playground, there)

    assert resolve(DirectName(SAME_IP, victim.id, 8080), False) == Target(SAME_IP, 8080, "node1")
    # Never this host's SAME_IP: the router connects from inside the attacker's own instance (engine/relay).
    assert resolve(DirectName(SAME_IP, attacker.id, 8080), False) == Target(
        SAME_IP, 8080, "node1", relay=(Daemon(there.url), f"{attacker.id}-node1")
    )

    def target(session: Session, engine: Engine) -> access.Target:
        return access.Target(session.id, f"{session.id}-node1", "node1", SAME_IP, Daemon(engine.url))

    assert access.tunnels_reach(target(victim, here))
    assert not access.tunnels_reach(target(attacker, there))


def test_a_pool_on_one_other_host_is_routed(playground: Playground) -> None:
    """Engines all on one host (one tcp engine, say) share no subnet with any other: their instances are routed."""
    only = Engine.objects.create(name="only", url="tcp://10.0.0.12:2375", memory_bytes=GIB)
    session = session_with_instance(playground, only)
    assert resolve(DirectName(SAME_IP, session.id, 80), False) == Target(SAME_IP, 80, "node1")
