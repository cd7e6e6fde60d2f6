from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from striv.core.admin_utils import ReadOnlyAdmin
from striv.drivers import driver_choices
from striv.executions.models import Execution


class DriverFilter(admin.SimpleListFilter):
    """Filter by driver, offering the registered drivers (``Execution.driver`` has no model choices)."""

    title = "driver"
    parameter_name = "driver__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return driver_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Execution]) -> QuerySet[Execution]:
        return queryset.filter(driver=self.value()) if self.value() else queryset


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    """Executions are maintained in git and loaded with load-state, so the admin only shows them."""

    list_display = ["key", "name", "driver_display", "modified"]
    list_filter = [DriverFilter]
    search_fields = ["key", "name"]
    readonly_fields = ["driver_display"]

    @admin.display(description="driver", ordering="driver")
    def driver_display(self, execution: Execution) -> str:
        return execution.get_driver_display()

    def get_fields(self, request: HttpRequest, obj: Execution | None = None) -> list[Any]:
        # The driver is shown by its registered label, where the model field was.
        fields = [name for name in super().get_fields(request, obj) if name != "driver_display"]
        return ["driver_display" if name == "driver" else name for name in fields]
