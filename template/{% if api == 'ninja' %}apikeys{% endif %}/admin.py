"""Admin for API keys: list and delete them (make one with `manage.py api_key create`)."""

from django.contrib import admin

from apikeys.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "hint", "created_at"]
    readonly_fields = ["name", "hint", "created_at"]

    def has_add_permission(self, request) -> bool:
        """No: a key made here could never be shown; the command prints it once."""
        return False
