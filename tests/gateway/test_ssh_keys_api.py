"""Learners register, list and delete the public keys that open PWD's legacy ssh user names."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncssh
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from gateway.keys import PublicKey, parse_public_key
from gateway.models import MAX_KEYS_PER_SESSION, AuthorizedKey, TooManyKeys
from sessions import lifecycle
from sessions.models import Playground, Session


def _keypair(tmp_path: Path, name: str) -> tuple[str, str]:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text(), path.read_text()


def _post(client: Client, session_id: str, key: object) -> tuple[int, dict[str, object]]:
    response = client.post(f"/sessions/{session_id}/ssh-keys", {"key": key}, content_type="application/json")
    return response.status_code, response.json()


def test_it_registers_lists_and_deletes_a_key(client: Client, playground: Playground, tmp_path: Path) -> None:
    session = lifecycle.Session.objects.create(playground=playground, expires_at=lifecycle.timezone.now())
    public, _ = _keypair(tmp_path, "alice")
    status, key = _post(client, session.id, public)
    assert status == 201
    assert key["comment"] == "alice@laptop"
    assert key["algorithm"] == "ssh-ed25519"
    assert str(key["fingerprint"]).startswith("SHA256:")
    assert _post(client, session.id, public) == (201, key)  # registering twice changes nothing
    assert client.get(f"/sessions/{session.id}/ssh-keys").json() == {"keys": [key]}
    assert client.delete(f"/sessions/{session.id}/ssh-keys/{key['id']}").status_code == 200
    assert client.get(f"/sessions/{session.id}/ssh-keys").json() == {"keys": []}
    assert client.delete(f"/sessions/{session.id}/ssh-keys/{key['id']}").status_code == 404


def test_it_refuses_what_is_not_one_public_key(client: Client, playground: Playground, tmp_path: Path) -> None:
    session = lifecycle.Session.objects.create(playground=playground, expires_at=lifecycle.timezone.now())
    public, private = _keypair(tmp_path, "alice")
    for bad, message in [
        (private, "this is a private key"),
        ("ssh-ed25519 AAAAnotbase64", "not an OpenSSH public key"),
        (public + public, "paste exactly one public key"),
        (42, 'send {"key"'),
    ]:
        status, body = _post(client, session.id, bad)
        assert status == 400
        assert message in str(body["message"])


def test_it_limits_the_keys_of_a_session(client: Client, playground: Playground, tmp_path: Path) -> None:
    session = lifecycle.Session.objects.create(playground=playground, expires_at=lifecycle.timezone.now())
    for n in range(MAX_KEYS_PER_SESSION):
        assert _post(client, session.id, _keypair(tmp_path, f"k{n}")[0])[0] == 201
    status, body = _post(client, session.id, _keypair(tmp_path, "one-more")[0])
    assert (status, body["error"]) == (409, "max_keys")


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_limit_when_keys_arrive_at_once(playground: Playground) -> None:
    session = Session.objects.create(playground=playground, expires_at=timezone.now())
    keys = [
        parse_public_key(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())
        for _ in range(3 * MAX_KEYS_PER_SESSION)
    ]
    everyone_ready = threading.Barrier(len(keys))

    def register(key: PublicKey) -> bool:
        """Register the key on a connection of this thread's own; tell whether it was taken."""
        try:
            everyone_ready.wait()
            AuthorizedKey.register(session, key)
            return True
        except TooManyKeys:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(len(keys)) as pool:
        taken = sum(pool.map(register, keys))

    assert taken == MAX_KEYS_PER_SESSION
    assert session.ssh_keys.count() == MAX_KEYS_PER_SESSION


def test_it_refuses_keys_for_an_ended_session(client: Client, playground: Playground, tmp_path: Path) -> None:
    session = lifecycle.Session.objects.create(
        playground=playground, expires_at=lifecycle.timezone.now(), state=lifecycle.Session.State.ENDED
    )
    status, body = _post(client, session.id, _keypair(tmp_path, "alice")[0])
    assert (status, body["error"]) == (410, "session_ended")
    assert _post(client, "no-such-session", _keypair(tmp_path, "bob")[0])[0] == 404
