from django.contrib import admin

from striv.core.admin_utils import ReadOnlyAdmin
from striv.runs.models import Run


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    """Runs are discovered by the refresher; the admin shows them."""

    list_display = ["external_id", "job", "status", "created", "finished", "exit_code"]
    list_filter = ["status"]
    search_fields = ["external_id", "job__name"]
    list_select_related = ["job"]
