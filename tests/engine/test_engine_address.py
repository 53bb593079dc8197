"""The platform reaches its engine over a unix socket or plain TCP; any other address is refused at start."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from engine import daemon


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("unix:///run/playground/engine.sock", "/run/playground/engine.sock"),
        ("http+unix:///var/run/docker.sock", "/var/run/docker.sock"),
        ("tcp://10.0.0.5:2375", ("10.0.0.5", 2375)),
        ("http://engine.internal:2375", ("engine.internal", 2375)),
        ("tcp://[fd00::5]:2375", ("fd00::5", 2375)),
        ("10.0.0.5:2375", ("10.0.0.5", 2375)),
    ],
)
def test_it_reaches_engines_on_unix_sockets_and_plain_tcp(url: str, address: str | tuple[str, int]) -> None:
    assert daemon.Daemon(url).address() == address


@pytest.mark.parametrize("url", ["ssh://admin@engine.internal", "https://engine.internal:2376", "npipe:////./pipe/x"])
def test_it_refuses_engines_over_ssh_or_tls_at_start(url: str) -> None:
    with (
        override_settings(SANDBOX_ENGINE=url),
        pytest.raises(ImproperlyConfigured, match=r"unix socket .* or TCP \(tcp://host:port, with TLS .*not over ssh"),
    ):
        apps.get_app_config("sandboxes").ready()


def test_it_refuses_what_is_no_engine_address_at_start() -> None:
    with override_settings(SANDBOX_ENGINE="fd://3"), pytest.raises(ImproperlyConfigured, match="not a Docker engine"):
        apps.get_app_config("sandboxes").ready()
