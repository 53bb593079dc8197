from django.contrib import admin

from workshops.models import Seat, Workshop


class SeatInline(admin.TabularInline):
    model = Seat
    fields = ("name", "session", "joined_at", "last_seen_at")
    readonly_fields = fields
    extra = 0


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "code", "trainer", "seats", "starts_at", "ends_at", "warm_pool")
    readonly_fields = ("code",)
    inlines = [SeatInline]
