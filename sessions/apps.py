from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

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
            daemon.address()
        except EngineError as e:
            raise ImproperlyConfigured(str(e)) from e
