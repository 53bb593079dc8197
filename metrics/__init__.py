"""The platform's metrics, counted where things happen in every process and added up by GET /metrics.

A plain package below every Django app, like engine. Each process writes its values to files in METRICS_DIR
(prometheus-client's multiprocess mode; settings point PROMETHEUS_MULTIPROC_DIR there before this is imported),
so a counter a Celery worker, the ssh gateway or a router process increments shows in the web's /metrics.
Gauges that are state in the database (sessions, instances) are not here: sessions/monitoring.py reads them
at scrape time. Metrics of the engine carry its address as `engine`, so a pool of engines fits later.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter, Gauge, Histogram, values

if values.ValueClass is values.MutexValue:
    raise ImproperlyConfigured(
        "prometheus_client was imported before the settings set PROMETHEUS_MULTIPROC_DIR: each process would "
        "count for itself and /metrics would miss the others' counts"
    )
settings.METRICS_DIR.mkdir(parents=True, exist_ok=True)

STARTS_REFUSED = Counter(
    "playground_session_starts_refused",
    "Session starts refused, by the refusal's error code (too_many_sessions, out_of_capacity, ...).",
    ["reason"],
)
INSTANCE_READY = Histogram(
    "playground_instance_ready_seconds",
    "Seconds from asking the engine for a new instance to its inner engine answering.",
    ["engine"],
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, float("inf")),
)
EXPIRY_LATENESS = Histogram(
    "playground_expiry_lateness_seconds",
    "Seconds past its deadline at which an expired session's ending began.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, float("inf")),
)
OPEN_TERMINALS = Gauge(
    "playground_open_terminals",
    "Terminals viewed now: one per WebSocket per instance it shows, in all web processes.",
    multiprocess_mode="livesum",
)
SSH_LOGINS = Counter("playground_ssh_logins", "Logins the ssh gateway let into an instance.")
ROUTER_CONNECTIONS = Counter("playground_router_connections", "Connections the direct router accepted.")
ENGINE_ERRORS = Counter(
    "playground_engine_errors",
    "Failures of the sandbox engine reported to a learner or a worker (engine_error).",
    ["engine"],
)


def engine_label() -> str:
    """Return the label of the engine at SANDBOX_ENGINE (engines are labelled by their address)."""
    return str(settings.SANDBOX_ENGINE)
