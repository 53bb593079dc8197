from django.contrib import admin

from sessions.models import Instance, Playground, Session


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
    list_display = ("id", "playground", "state", "created_at", "expires_at", "end_reason")
    list_filter = ("state", "playground")
    inlines = [InstanceInline]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("name", "hostname", "session", "ip", "state", "created_at")
    list_filter = ("state",)
    # TLS material is write-only everywhere, the admin included.
    exclude = ("tls_ca_cert", "tls_server_cert", "tls_server_key")
