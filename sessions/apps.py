from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate

from engine import EngineError, daemon


class SandboxSessionsConfig(AppConfig):
    # django.contrib.sessions owns the label "sessions".
    name = "sessions"
    label = "sandboxes"
    verbose_name = "Sandbox sessions"

    def ready(self) -> None:
        # Every process (web, workers, gateway, router) refuses at its start an engine that terminals and ssh
        # sessions could not reach, rather than at a learner's first keystroke.
        try:
            daemon.check_address(settings.SANDBOX_ENGINE)
        except EngineError as e:
            raise ImproperlyConfigured(f"SANDBOX_ENGINE: {e}") from e
        post_migrate.connect(create_default_playground, sender=self)


def create_default_playground(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Name the first playground after PLAYGROUND_DOMAIN once the tables exist, so that requests only read."""
    playground = sender.get_model("Playground")
    if not playground._default_manager.using(using).exists():
        playground._default_manager.using(using).create(domain=settings.PLAYGROUND_DOMAIN)
