from django.apps import AppConfig


class SandboxSessionsConfig(AppConfig):
    # django.contrib.sessions owns the label "sessions".
    name = "sessions"
    label = "sandboxes"
    verbose_name = "Sandbox sessions"
