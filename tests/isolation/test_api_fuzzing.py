"""Schemathesis, fed the OpenAPI document, finds no request the API answers with a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sessions.models import Playground, Session
from tests.daphne import Daphne, start_daphne, stop_daphne

# Per operation and phase; about 10 s for either half of the API on 2 cores.
MAX_EXAMPLES = 15
# The operations that parse a body (or a key id, an instance name) inside one session, and never end it.
SESSION_BODIES = r"^/sessions/\{session_id\}/(instances|ssh-keys|extend|setup)"


@pytest.fixture
def server(live: Playground, tmp_path: Path) -> Iterator[Daphne]:
    # Valid starts make real session networks, each a subnet of the pool: a few are enough, the rest get 429.
    started = start_daphne(tmp_path / "daphne.log", SESSION_STARTS_PER_MINUTE="5")
    yield started
    stop_daphne(started)


@pytest.fixture
def session(live: Playground) -> Session:
    """A live session where valid instance requests get 409, so fuzzing parses bodies without starting sandboxes."""
    live.max_instances = 0
    live.save()
    return Session.objects.create(playground=live, expires_at=timezone.now() + timedelta(hours=1))


def _schemathesis(server: Daphne, folder: Path, *options: str) -> None:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml", "run"),
        f"{server.url}/api/openapi.json",
        *("--checks", "not_a_server_error", "--max-examples", str(MAX_EXAMPLES)),
        *("--header", "X-Requested-With: XMLHttpRequest", "--generation-database", "none", "--no-color"),
        *options,
    ]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-6000:]


def test_it_never_answers_a_body_in_a_live_session_with_a_server_error(
    server: Daphne, session: Session, tmp_path: Path
) -> None:
    # Random session ids only ever reach a 404: these operations get one that exists (and nothing that ends it).
    (tmp_path / "schemathesis.toml").write_text(f'[parameters]\n"path.session_id" = "{session.id}"\n')
    _schemathesis(server, tmp_path, "--include-path-regex", SESSION_BODIES)


def test_it_never_answers_anything_else_with_a_server_error(server: Daphne, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text("")
    _schemathesis(server, tmp_path, "--exclude-path-regex", SESSION_BODIES)
