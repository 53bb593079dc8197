from django.contrib import admin
from django.http import HttpRequest

from sessions.models import Engine, EngineQuerySet, Instance, Playground, Session


@admin.register(Engine)
class EngineAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "remote", "memory_bytes", "enabled", "draining", "down_since", "last_error")
    list_filter = ("enabled", "draining")
    readonly_fields = ("down_since", "failed_pings", "last_error")
    actions = ["drain", "enable"]

    def get_readonly_fields(self, request: HttpRequest, obj: Engine | None = None) -> tuple[str, ...]:
        # Its sessions' sandboxes stay at the old address: a new one would mark every instance vanished and leave
        # those sandboxes running there, out of reach of expiry and the sweep. Add an engine and drain this one.
        return (*self.readonly_fields, "url") if obj is not None else self.readonly_fields

    @admin.action(description="Drain: no new sessions; those there run to their end")
    def drain(self, request: HttpRequest, queryset: EngineQuerySet) -> None:
        queryset.drain()

    @admin.action(description="Enable: take new sessions again")
    def enable(self, request: HttpRequest, queryset: EngineQuerySet) -> None:
        queryset.enable()


@admin.register(Playground)
class PlaygroundAdmin(admin.ModelAdmin):
    list_display = ("domain", "default_image", "session_duration", "max_instances")


class InstanceInline(admin.TabularInline):
    model = Instance
    fields = ("name", "hostname", "ip", "image", "state", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("id", "playground", "engine", "state", "created_at", "expires_at", "end_reason")
    list_filter = ("state", "playground", "engine")
    # Its instances live there: moving the row would not move them.
    readonly_fields = ("engine",)
    inlines = [InstanceInline]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("name", "hostname", "session", "ip", "state", "created_at")
    list_filter = ("state",)
    # TLS material is write-only everywhere, the admin included.
    exclude = ("tls_ca_cert", "tls_server_cert", "tls_server_key")
