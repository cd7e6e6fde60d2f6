"""Job admin: edits go through the job services, so the admin renders and validates like the UI and API."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from striv.dimensions.models import Dimension, DimensionValue
from striv.jobs import services
from striv.jobs.filtersets import JobFilterSet
from striv.jobs.models import Job
from striv.jobs.rendering import JobRenderError, job_render
from striv.templating import RenderError

READONLY = ["id", "version", "spec", "sync_status", "sync_error", "synced_at", "created", "modified"]


def _dimension_field(dimension: Dimension) -> str:
    return f"dimension__{dimension.key}"


class JobAdminForm(forms.ModelForm):
    class Meta:
        model = Job
        fields = ["name", "execution", "params"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dimensions = list(Dimension.objects.order_by("priority", "key"))
        current = {}
        if self.instance.pk:
            current = {jv.dimension_id: jv.value_id for jv in self.instance.job_values.all()}
        for dimension in self.dimensions:
            name = _dimension_field(dimension)
            field = self.fields.get(name)
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = DimensionValue.objects.filter(dimension=dimension)
                field.initial = current.get(dimension.pk)

    def selected_values(self) -> list[DimensionValue]:
        return [
            self.cleaned_data[_dimension_field(d)]
            for d in self.dimensions
            if self.cleaned_data.get(_dimension_field(d))
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.errors or not data.get("execution"):
            return data
        # The admin's only chance to show a form error is clean(); save_model() cannot refuse with one.
        try:
            job_render(execution=data["execution"], values=self.selected_values(), params=data["params"] or {})
        except RenderError as exc:
            raise JobRenderError(exc) from None
        return data


class _JobFilterSetListFilter(admin.SimpleListFilter):
    """An admin list filter that filters with one filter of JobFilterSet, so the admin filters as the UI and API do."""

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return list(JobFilterSet.base_filters[self.parameter_name].extra["choices"])

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return JobFilterSet({self.parameter_name: [self.value()]}, queryset=queryset).qs


class LatestRunListFilter(_JobFilterSetListFilter):
    title = "latest run"
    parameter_name = "latest_run_status"


class SyncListFilter(_JobFilterSetListFilter):
    title = "sync"
    parameter_name = "sync_status"


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs; saving renders the job and stores its spec through the job services."""

    list_display = ["name", "execution", "sync_status", "modified"]
    list_filter = ["execution", LatestRunListFilter, SyncListFilter]
    search_fields = ["name", "id"]
    readonly_fields = READONLY
    list_select_related = ["execution"]

    def _dimension_fields(self) -> dict[str, forms.Field]:
        return {
            _dimension_field(d): forms.ModelChoiceField(
                queryset=DimensionValue.objects.filter(dimension=d), required=False, label=d.display_name
            )
            for d in Dimension.objects.order_by("priority", "key")
        }

    def get_fields(self, request, obj=None) -> tuple[str, ...]:
        return ("name", "execution", *self._dimension_fields(), "params", *READONLY)

    def get_form(self, request, obj=None, change=False, **kwargs):
        extra = self._dimension_fields()
        names = list(extra)
        # The form metaclass consumes the attribute dict it is given, so it gets its own copy.
        kwargs["form"] = type("JobAdminForm", (JobAdminForm,), dict(extra))
        kwargs["fields"] = ["name", "execution", "params", *names]
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        values = form.selected_values()
        try:
            if change:
                saved = services.job_update(
                    job=obj,
                    changes=services.JobChanges(
                        name=obj.name, execution=obj.execution, params=obj.params or {}, values=values
                    ),
                )
            else:
                saved = services.job_create(
                    name=obj.name, execution=obj.execution, values=values, params=obj.params or {}
                )
        except ValidationError as exc:  # rendering passed in clean(); the state changed since
            self.message_user(request, "; ".join(exc.messages), level="error")
            raise
        obj.pk = saved.job.pk

    def save_related(self, request, form, formsets, change) -> None:
        """Dimension values were stored by the service."""

    # Django's admin wraps a POST in a transaction; the services keep their own short transactions, so that the
    # cluster call of a save or delete holds no database lock.
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj) -> None:
        services.job_delete(job=obj)

    def delete_queryset(self, request, queryset) -> None:
        for job in queryset:
            services.job_delete(job=job)
