from django.contrib import admin

from striv.core.admin_utils import ReadOnlyAdmin
from striv.executions.models import Execution


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    """Executions are maintained in git and loaded with load-state, so the admin only shows them."""

    list_display = ["key", "name", "driver", "modified"]
    list_filter = ["driver"]
    search_fields = ["key", "name"]
