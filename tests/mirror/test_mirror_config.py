"""What the mirror serves and what each sandbox's engine is told (pure configuration, no processes)."""

from typing import Any

from engine.mirror import mirror_host, sandbox_daemon_config
from mirror import registry


def test_it_serves_sandboxes_read_only(settings: Any) -> None:
    config = registry.registry_config("10.0.0.1:5000", read_only=True)
    assert config["storage"]["maintenance"] == {"readonly": {"enabled": True}}
    assert config["storage"]["filesystem"] == {"rootdirectory": str(settings.MIRROR_STORAGE)}
    assert "proxy" not in config


def test_it_seeds_through_a_writable_registry(settings: Any) -> None:
    settings.MIRROR_PROXY_URL = "https://registry-1.docker.io"
    config = registry.registry_config("127.0.0.1:5999", read_only=False)
    assert "maintenance" not in config["storage"]
    assert "proxy" not in config


def test_it_caches_docker_hub_when_given_its_url(settings: Any) -> None:
    settings.MIRROR_PROXY_URL = "https://registry-1.docker.io"
    config = registry.registry_config("10.0.0.1:5000", read_only=True)
    assert config["proxy"] == {"remoteurl": "https://registry-1.docker.io"}
    assert "proxies" not in sandbox_daemon_config()


def test_it_listens_on_the_last_subnet_of_the_pool(settings: Any) -> None:
    settings.SANDBOX_SUBNET_POOL, settings.MIRROR_HOST = "10.213.0.0/16", ""
    assert mirror_host() == "10.213.255.1"
    settings.MIRROR_HOST = "192.0.2.10"
    assert mirror_host() == "192.0.2.10"


def test_it_points_sandboxes_at_the_mirror_and_the_offline_notice(settings: Any) -> None:
    settings.MIRROR_HOST, settings.MIRROR_PORT, settings.MIRROR_OFFLINE_PORT = "10.9.9.1", 5000, 5001
    settings.MIRROR_PROXY_URL, settings.SANDBOX_SUBNET_POOL = "", "10.213.0.0/16"
    assert sandbox_daemon_config() == {
        "registry-mirrors": ["http://10.9.9.1:5000"],
        "insecure-registries": ["10.9.9.1:5000"],
        "proxies": {"https-proxy": "http://10.9.9.1:5001", "no-proxy": "10.9.9.1,10.213.0.0/16"},
    }
