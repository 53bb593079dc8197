"""Settings refuse to start misconfigured for production, and reading them changes nothing on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PRODUCTION = {"PRODUCTION": "true", "SECRET_KEY": "a-real-secret", "ALLOWED_HOSTS": "play.example"}


def _import_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with only `env` set (and DATA_DIR in tmp_path)."""
    environment = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path / "data"), **env}
    command = [sys.executable, "-c", "import playground.settings"]
    return subprocess.run(command, cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=60)


def test_it_refuses_debug_in_production(tmp_path: Path) -> None:
    refused = _import_settings(tmp_path, **PRODUCTION, DEBUG="true")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: DEBUG must be off when PRODUCTION=true" in refused.stderr


def test_it_starts_in_production_without_debug(tmp_path: Path) -> None:
    started = _import_settings(tmp_path, **PRODUCTION, DEBUG="false")
    assert started.returncode == 0, started.stderr


def test_it_allows_debug_on_a_laptop(tmp_path: Path) -> None:
    assert _import_settings(tmp_path, PRODUCTION="false", DEBUG="true").returncode == 0


def test_it_makes_no_directory_when_imported(tmp_path: Path) -> None:
    assert _import_settings(tmp_path).returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_it_refuses_a_trusted_proxy_that_is_no_address(tmp_path: Path) -> None:
    refused = _import_settings(tmp_path, TRUSTED_PROXIES="10.0.0.0/8,proxy.example")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: TRUSTED_PROXIES: 'proxy.example' does not appear to be" in refused.stderr


def test_it_refuses_an_openid_connect_client_without_its_provider(tmp_path: Path) -> None:
    refused = _import_settings(tmp_path, OIDC_CLIENT_ID="playground")
    assert refused.returncode != 0
    assert "OIDC_SERVER_URL must be set with OIDC_CLIENT_ID" in refused.stderr
