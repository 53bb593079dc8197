"""GET /metrics: Prometheus' text, for allowed addresses only, adding up what every process counts."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from sessions import lifecycle
from sessions.models import Playground
from tests.conftest import Api, wait_until_ended
from tests.processes import Processes, wait_until

XHR = {"x-requested-with": "XMLHttpRequest"}
# Another process (as a second web process would) that counts a terminal open, then waits to be killed.
OPEN_A_TERMINAL_AND_WAIT = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django.setup()
import metrics
metrics.OPEN_TERMINALS.inc()
print("open", flush=True)
sys.stdin.read()
"""


def sample(client: Client, name: str, **labels: str) -> float:
    """Return one sample of the metrics loopback scrapes (0 when there is none yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    for family in text_string_to_metric_families(response.content.decode()):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def test_it_serves_metrics_to_loopback(client: Client, playground: Playground) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"playground_sessions{" in response.content


def test_it_refuses_metrics_to_other_addresses(client: Client, playground: Playground) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 403
    assert response.json()["error"] == "metrics_not_allowed"


def test_it_believes_a_forwarded_loopback_only_from_a_trusted_proxy(
    client: Client, playground: Playground, settings: object
) -> None:
    forged = {"X-Forwarded-For": "127.0.0.1"}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", headers=forged).status_code == 403
    settings.TRUSTED_PROXIES = ["203.0.113.5"]  # type: ignore[attr-defined]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", headers=forged).status_code == 200


def test_it_refuses_a_visitor_through_a_proxy_on_this_host_that_is_not_trusted(
    client: Client, playground: Playground
) -> None:
    for header in ({"X-Forwarded-For": "198.51.100.7"}, {"Forwarded": "for=198.51.100.7"}):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", headers=header)
        assert response.status_code == 403 and "TRUSTED_PROXIES" in response.json()["message"]


def test_it_serves_metrics_to_the_addresses_allowed(client: Client, playground: Playground, settings: object) -> None:
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]  # type: ignore[attr-defined]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 200
    assert client.get("/metrics").status_code == 403


def test_it_counts_a_refused_start_with_its_reason(client: Client, playground: Playground, settings: object) -> None:
    settings.LOGIN_REQUIRED_TO_START = True  # type: ignore[attr-defined]
    refused = "playground_session_starts_refused_total"
    before = sample(client, refused, reason="login_required")
    assert client.post("/", headers=XHR).status_code == 403
    assert sample(client, refused, reason="login_required") == before + 1


def test_it_lists_sessions_and_instances_by_state(live: Playground, api: Api, client: Client) -> None:
    engine = settings.SANDBOX_ENGINE
    ready = sample(client, "playground_instance_ready_seconds_count", engine=engine)
    session_id = api.start()
    api.add(session_id)
    assert sample(client, "playground_sessions", state="active") >= 1
    assert sample(client, "playground_instances", state="running", engine=engine) >= 1
    assert sample(client, "playground_instance_ready_seconds_count", engine=engine) == ready + 1


def test_it_adds_up_what_a_celery_worker_counts(live: Playground, celery: Processes, client: Client) -> None:
    lateness = "playground_expiry_lateness_seconds_count"
    before = sample(client, lateness)
    session = lifecycle.start_session(live, duration=timedelta(seconds=1))
    wait_until_ended(session.id)  # by the worker: this process never ends it
    wait_until(lambda: sample(client, lateness) >= before + 1, timeout=5)


def test_it_forgets_the_open_terminals_of_a_process_that_died(client: Client, playground: Playground) -> None:
    before = sample(client, "playground_open_terminals")
    viewer = subprocess.Popen(
        [sys.executable, "-c", OPEN_A_TERMINAL_AND_WAIT],
        cwd=settings.BASE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert viewer.stdout is not None and viewer.stdout.readline() == b"open\n"
        assert sample(client, "playground_open_terminals") == before + 1
    finally:
        viewer.kill()  # no goodbye, as a crash
        viewer.wait()
    assert sample(client, "playground_open_terminals") == before
