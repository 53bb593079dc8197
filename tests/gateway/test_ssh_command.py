"""Each instance's JSON carries the exact ssh command that reaches it through the gateway."""

from __future__ import annotations

from django.test import override_settings

from sessions.models import Instance, Playground, Session


def _instance(playground: Playground, ip: str | None) -> Instance:
    session = Session(id="abcdefghijklmnopqrstuvwxyz", playground=playground)
    return Instance(session=session, name="pg-abcdefgh-node1-000000", hostname="node1", ip=ip)


@override_settings(PLAYGROUND_DOMAIN="labs.example.org", SSH_GATEWAY_PORT=1022)
def test_it_shows_the_command_with_the_gateway_port(playground: Playground) -> None:
    instance = _instance(playground, "10.213.4.2")
    expected = "ssh ip10-213-4-2-abcdefghijklmnopqrstuvwxyz@labs.example.org -p 1022"
    assert instance.ssh_command == expected
    assert instance.to_json()["ssh_command"] == expected


@override_settings(PLAYGROUND_DOMAIN="labs.example.org", SSH_GATEWAY_PORT=22)
def test_it_leaves_out_the_default_port(playground: Playground) -> None:
    assert (
        _instance(playground, "10.213.4.2").ssh_command
        == "ssh ip10-213-4-2-abcdefghijklmnopqrstuvwxyz@labs.example.org"
    )


def test_it_has_no_command_before_the_instance_has_an_address(playground: Playground) -> None:
    assert _instance(playground, None).ssh_command == ""
