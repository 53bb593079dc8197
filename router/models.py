"""What learners need to reach an instance's engine from their own machine."""

from __future__ import annotations

from django.db import models

from sessions.models import Instance


class ClientBundle(models.Model):
    """The CA of one instance engine's server certificate, and a client certificate that opens that engine alone.

    The learner's laptop bundle, and the platform's way in (it follows the instance's ports with it); for a
    docker-machine instance, which brought its own client certificate, only the platform's.
    """

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="client_bundle")
    ca_cert = models.TextField()
    client_cert = models.TextField()
    # Write-only: served by the bundle download alone, never in any JSON.
    client_key = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"client bundle of {self.instance}"
