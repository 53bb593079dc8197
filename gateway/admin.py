from django.contrib import admin

from gateway.models import AuthorizedKey


@admin.register(AuthorizedKey)
class AuthorizedKeyAdmin(admin.ModelAdmin):
    list_display = ("fingerprint", "comment", "session", "created_at")
    search_fields = ("fingerprint", "session__id")
