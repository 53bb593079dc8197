"""Give the session page what static/js/ports.js needs to link to instances' ports."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.db.models import QuerySet
from django.utils.html import json_script
from django.utils.safestring import SafeString

from sessions.models import Instance

register = template.Library()


@register.simple_tag
def direct_config(instances: QuerySet[Instance]) -> SafeString:
    """Render the router's public domain and port, and each instance's proxy_host, as a JSON script element."""
    config = {
        "domain": settings.PLAYGROUND_DOMAIN,
        "port": settings.ROUTER_PUBLIC_PORT,
        "instances": {i.name: i.proxy_host for i in instances},
    }
    return json_script(config, "direct-config")
