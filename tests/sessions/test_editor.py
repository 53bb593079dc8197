"""The editor's API on a real instance: a folder's tree, a text file read as base64 and written back."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from sessions.models import Playground
from tests.conftest import Api, sh


@pytest.fixture
def instance(live: Playground, api: Api) -> dict[str, Any]:
    return api.add(api.start())


def url(instance: dict[str, Any], what: str, path: str) -> str:
    return f"/sessions/{instance['session_id']}/instances/{instance['name']}/{what}?path={path}"


def test_it_reads_and_writes_a_file_round_trip(instance: dict[str, Any], client: Client) -> None:
    sh(instance, "printf 'héllo\\n' > /root/a.txt")
    read = client.get(url(instance, "file", "/root/a.txt"))
    assert read.status_code == 200
    assert base64.b64decode(read.content) == "héllo\n".encode()

    saved = client.put(url(instance, "file", "/root/a.txt"), "changed\n", content_type="text/plain")
    assert saved.json() == {"path": "/root/a.txt", "bytes": 8}
    assert sh(instance, "cat /root/a.txt; ls -A /root | grep -c upload")[1] == "changed\n0\n"

    client.put(url(instance, "file", "new/b.txt"), "relative\n", content_type="text/plain")
    assert sh(instance, "cat /root/new/b.txt")[1] == "relative\n"


def test_it_lists_a_folder_as_tree_does(instance: dict[str, Any], client: Client) -> None:
    sh(instance, "mkdir -p /srv/t/sub/deeper && touch /srv/t/one /srv/t/sub/two '/srv/t/sub/with\nnewline'")
    top, report = client.get(url(instance, "fstree", "/srv/t")).json()
    assert top == {
        "type": "directory",
        "name": "/srv/t",
        "contents": [
            {
                "type": "directory",
                "name": "sub",
                "contents": [
                    {"type": "directory", "name": "deeper", "contents": []},
                    {"type": "file", "name": "two"},
                    {"type": "file", "name": "with\nnewline"},
                ],
            },
            {"type": "file", "name": "one"},
        ],
    }
    assert report == {"type": "report", "directories": 2, "files": 3, "truncated": False}


def test_the_tree_is_bounded(instance: dict[str, Any], client: Client, settings: Any) -> None:
    settings.FSTREE_ENTRIES = 50
    sh(instance, "mkdir -p /srv/many && cd /srv/many && seq 500 | xargs touch")
    top, report = client.get(url(instance, "fstree", "/srv/many")).json()
    assert len(top["contents"]) == 50
    assert report["truncated"] is True


@pytest.mark.parametrize(
    ("setup", "path", "status", "code"),
    [
        ("head -c 3000 /dev/urandom > /tmp/bin", "/tmp/bin", 415, "binary_file"),
        ("head -c 600000 /dev/zero | tr '\\0' a > /tmp/big", "/tmp/big", 413, "file_too_large"),
        ("true", "/tmp/missing", 404, "no_such_file"),
        ("true", "/tmp", 422, "file_error"),
    ],
)
def test_files_the_editor_cannot_open_get_a_clear_4xx(
    instance: dict[str, Any], client: Client, setup: str, path: str, status: int, code: str
) -> None:
    sh(instance, setup)
    answer = client.get(url(instance, "file", path))
    assert (answer.status_code, answer.json()["error"]) == (status, code)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/nope", 404, "no_such_file"), ("/tmp/a%00b", 400, "bad_request")],
)
def test_folders_the_tree_cannot_list_get_a_clear_4xx(
    instance: dict[str, Any], client: Client, path: str, status: int, code: str
) -> None:
    answer = client.get(url(instance, "fstree", path))
    assert (answer.status_code, answer.json()["error"]) == (status, code)


def test_a_hostile_find_gets_a_4xx_or_a_bounded_tree(instance: dict[str, Any], client: Client) -> None:
    # The learner's `find` prints endless garbage, then never ends.
    fake = "#!/bin/sh\\nyes 'garbage/../x' | tr '\\\\n' '\\\\0'\\n"
    sh(instance, f"printf '{fake}' > /usr/local/bin/find && chmod +x /usr/local/bin/find")
    answer = client.get(url(instance, "fstree", "/root"))
    assert answer.status_code in (200, 422), answer.content
    assert len(answer.content) < 2 * 1024 * 1024


def test_saving_past_the_cap_is_refused(instance: dict[str, Any], client: Client, settings: Any) -> None:
    settings.EDITOR_MAX_BYTES = 1000
    answer = client.put(url(instance, "file", "/tmp/x"), "x" * 1001, content_type="text/plain")
    assert (answer.status_code, answer.json()["error"]) == (413, "file_too_large")


def test_a_cat_that_never_reads_cannot_hold_a_save(instance: dict[str, Any], client: Client, settings: Any) -> None:
    settings.UPLOAD_STALL_TIMEOUT = 2
    sh(instance, "printf '#!/bin/sh\\nsleep 1000\\n' > /usr/local/bin/cat && chmod +x /usr/local/bin/cat")
    answer = client.put(url(instance, "file", "/tmp/x"), "x" * 500_000, content_type="text/plain")
    assert (answer.status_code, answer.json()["error"]) == (422, "file_error")
    sh(instance, "rm /usr/local/bin/cat")
    assert sh(instance, "ls -A /tmp")[1] == ""
