"""PWD's short user name <a-b-c-d>-<sid[:8]> opens an instance only with a key registered on the session page."""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.test import Client

from tests.gateway.conftest import Ssh, legacy_user_for, register_key

NEEDS_KEY = "a short user name opens an instance only with a public key registered on its session page"


def test_it_admits_a_registered_key(ssh: Ssh, client: Client, node: dict[str, Any]) -> None:
    key = ssh.new_key("alice")
    register_key(client, node, key)
    result = ssh.run(legacy_user_for(node), "hostname", extra=("-i", str(key)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "node1\n"


def test_it_refuses_a_key_nobody_registered(ssh: Ssh, client: Client, node: dict[str, Any]) -> None:
    register_key(client, node, ssh.new_key("alice"))
    result = ssh.run(legacy_user_for(node), "hostname", extra=("-i", str(ssh.new_key("mallory"))))
    assert result.returncode == 255
    assert NEEDS_KEY in result.stderr
    assert "Permission denied (publickey)" in result.stderr


def test_it_refuses_the_short_name_while_no_key_is_registered(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(legacy_user_for(node), "hostname", extra=("-i", str(ssh.new_key("alice"))))
    assert result.returncode == 255
    assert NEEDS_KEY in result.stderr


def test_it_answers_alike_whether_or_not_a_session_has_that_short_name(
    ssh: Ssh, client: Client, node: dict[str, Any]
) -> None:
    register_key(client, node, ssh.new_key("alice"))
    mallory = ("-i", str(ssh.new_key("mallory")))
    existing, unknown = legacy_user_for(node), legacy_user_for(node, session_id="zzzzzzzz")
    ssh.run(existing, "true", extra=mallory)  # the first login records the host key, with a warning
    answers: dict[str, list[str]] = {existing: [], unknown: []}
    seconds: dict[str, list[float]] = {existing: [], unknown: []}
    for _ in range(5):
        for user in (existing, unknown):
            start = time.monotonic()
            result = ssh.run(user, "true", extra=mallory)
            seconds[user].append(time.monotonic() - start)
            answers[user].append(result.stderr.replace(user, "<user>"))
    assert set(answers[existing]) == set(answers[unknown]) == {answers[unknown][0]}
    assert NEEDS_KEY in answers[unknown][0]
    slower, faster = sorted([statistics.median(seconds[existing]), statistics.median(seconds[unknown])])
    assert slower - faster < 0.05 + 0.25 * faster, seconds
