"""The ssh command a learner types to reach an instance through the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from sessions.models import Instance


def ssh_command(instance: Instance) -> str:
    """Return `ssh ip<a-b-c-d>-<sid>@<domain> -p <port>` for the instance, or "" before it has an address."""
    if not instance.ip:
        return ""
    port = settings.SSH_GATEWAY_PORT
    command = f"ssh {instance.proxy_host}@{settings.PLAYGROUND_DOMAIN}"
    return command if port == 22 else f"{command} -p {port}"
