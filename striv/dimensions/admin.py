from django.contrib import admin

from striv.core.admin_utils import ReadOnlyAdmin
from striv.dimensions.models import Dimension, DimensionValue

VALUE_FIELDS = ("key", "label", "params")


class DimensionValueInline(admin.TabularInline):
    model = DimensionValue
    fields = VALUE_FIELDS
    readonly_fields = VALUE_FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dimension)
class DimensionAdmin(ReadOnlyAdmin):
    """Dimensions are maintained in git and loaded with load-state, so the admin only shows them."""

    list_display = ["key", "label", "priority"]
    search_fields = ["key", "label"]
    inlines = [DimensionValueInline]


@admin.register(DimensionValue)
class DimensionValueAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "dimension", "key", "label"]
    list_filter = ["dimension"]
    search_fields = ["key", "label"]
