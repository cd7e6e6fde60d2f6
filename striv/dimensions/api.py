"""Dimensions API: read-only; dimensions and their values are maintained in git and loaded with load-state."""

from __future__ import annotations

from django.db.models import Count, Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets

from striv.core.api.base import CursorPagination
from striv.dimensions.models import Dimension, DimensionValue


class DimensionValueSerializer(serializers.ModelSerializer):
    jobs_count = serializers.IntegerField(read_only=True, help_text="How many jobs have this value.")

    class Meta:
        model = DimensionValue
        fields = ["key", "label", "params", "jobs_count"]
        read_only_fields = fields


class DimensionSerializer(serializers.ModelSerializer):
    jobs_count = serializers.IntegerField(read_only=True, help_text="How many jobs have a value of this dimension.")
    values = DimensionValueSerializer(many=True, read_only=True)

    class Meta:
        model = Dimension
        fields = ["key", "priority", "label", "description", "jobs_count", "values", "created", "modified"]
        read_only_fields = fields


class DimensionPagination(CursorPagination):
    ordering = ("key",)


@extend_schema(tags=["dimensions"])
class DimensionViewSet(viewsets.ReadOnlyModelViewSet):
    """Dimensions (customer, service level...) with their values; higher priority wins when params merge."""

    serializer_class = DimensionSerializer
    pagination_class = DimensionPagination
    lookup_field = "key"
    lookup_value_regex = "[A-Za-z0-9][A-Za-z0-9_-]*"
    queryset = Dimension.objects.annotate(jobs_count=Count("values__job_values")).prefetch_related(
        Prefetch(
            "values",
            queryset=DimensionValue.objects.annotate(jobs_count=Count("job_values")).order_by("key"),
        )
    )

    @extend_schema(summary="List dimensions with their values")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a dimension with its values")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)
