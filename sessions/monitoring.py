"""GET /metrics: every process's counters (metrics), and sessions and instances by state read at scrape time."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from sessions import clients, engines
from sessions.api import error
from sessions.models import Instance, Session

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


class DatabaseCollector:
    """Count sessions and instances by state from the database when scraped, so no process keeps the count."""

    def collect(self) -> Iterator[Metric]:
        sessions = GaugeMetricFamily("playground_sessions", "Sessions by state.", labels=["state"])
        for state, count in _by_state(Session):
            sessions.add_metric([state], count)
        yield sessions
        instances = GaugeMetricFamily("playground_instances", "Instances by state.", labels=["state", "engine"])
        pool = engines.all_engines()
        rows = Instance.objects.order_by().values("state", "session__engine__url").annotate(n=Count("pk"))
        counts = {(row["state"], row["session__engine__url"]): row["n"] for row in rows}
        for engine in pool:
            for state in Instance.State.values:
                instances.add_metric([state, engine.url], counts.get((state, engine.url), 0))
        yield instances
        up = GaugeMetricFamily(
            "playground_engine_up",
            "1 while the engine answers its health check (0 once marked down).",
            labels=["engine"],
        )
        taking = GaugeMetricFamily(
            "playground_engine_takes_sessions", "1 while new sessions may go to the engine.", labels=["engine"]
        )
        for engine in pool:
            up.add_metric([engine.url], 0 if engine.down_since else 1)
            taking.add_metric([engine.url], 1 if engine.state == "up" else 0)
        yield up
        yield taking


def _by_state(model: type[Session] | type[Instance]) -> list[tuple[str, int]]:
    counts = {row["state"]: row["n"] for row in model.objects.order_by().values("state").annotate(n=Count("pk"))}
    return [(state, counts.get(state, 0)) for state in model.State.values]


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer Prometheus' scrape from an allowed address (METRICS_ALLOWED_IPS); 403 for any other."""
    if not allowed(clients.client_address(request)):
        return error(403, "metrics_not_allowed", "metrics are served to the addresses in METRICS_ALLOWED_IPS only")
    if clients.forwarded_by_untrusted_proxy(request):
        return error(
            403,
            "metrics_not_allowed",
            "this request came through a proxy that is not in TRUSTED_PROXIES; scrape /metrics directly",
        )
    _forget_dead_processes()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def allowed(address: str) -> bool:
    """Tell whether a client address is within METRICS_ALLOWED_IPS."""
    parsed = clients.parse(address)
    networks = [ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_IPS]
    return parsed is not None and any(parsed.version == n.version and parsed in n for n in networks)


def _forget_dead_processes() -> None:
    """Drop the live gauges (open terminals) of processes that died without saying so (kill -9, a crash)."""
    for name in os.listdir(settings.METRICS_DIR):
        found = _LIVE_GAUGE_FILE.fullmatch(name)
        if found and not _alive(int(found[1])):
            multiprocess.mark_process_dead(int(found[1]), str(settings.METRICS_DIR))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True
