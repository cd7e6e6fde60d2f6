"""Jobs: an execution, one value per dimension and job-level params, pushed to the orchestrator."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models

from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution


class JobQuerySet(models.QuerySet):
    def for_value(self, value: DimensionValue) -> "JobQuerySet":
        """Jobs that use the dimension value ``value``."""
        return self.filter(job_values__value=value)

    def needing_push(self) -> "JobQuerySet":
        """Jobs whose cluster copy is known or suspected to differ from the stored spec."""
        return self.filter(sync_status__in=[Job.SyncStatus.OUT_OF_SYNC, Job.SyncStatus.PENDING])

    def with_layers(self) -> "JobQuerySet":
        """Prefetch everything rendering needs, so rendering many jobs costs a constant number of queries."""
        return self.select_related("execution").prefetch_related(
            models.Prefetch("job_values", queryset=JobValue.objects.select_related("value__dimension"))
        )


class Job(models.Model):
    """A periodic batch job on a cluster.

    ``spec_hash`` is the hash of the spec the job should have; ``pushed_hash`` the hash of what was last pushed.
    ``version`` increases on every save and serves optimistic concurrency.
    """

    class SyncStatus(models.TextChoices):
        IN_SYNC = "in_sync", "In sync"
        OUT_OF_SYNC = "out_of_sync", "Out of sync"
        PENDING = "pending", "Push pending"
        FAILED = "failed", "Push failed"
        DELETING = "deleting", "Deleting"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="jobs")
    values: "models.ManyToManyField[DimensionValue, JobValue]" = models.ManyToManyField(
        DimensionValue, through="JobValue", related_name="jobs", blank=True
    )
    params = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    # The spec as previewed (secrets redacted): what the UI and API show. Cleartext is never stored.
    spec = models.JSONField(default=dict, blank=True)
    spec_hash = models.CharField(max_length=64, blank=True, default="")
    pushed_hash = models.CharField(max_length=64, blank=True, default="")
    # Ciphertexts of the secrets in what was last pushed, so that a plan can redact them from the live copy.
    pushed_secrets = models.JSONField(default=list, blank=True)
    sync_status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.OUT_OF_SYNC)
    sync_error = models.TextField(blank=True, default="")
    sync_attempts = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)

    # Kept by the refresher so lists can show and filter on the latest run without a query per job.
    latest_run_status = models.CharField(max_length=20, blank=True, default="")
    latest_run_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["sync_status"], name="job_sync_status_idx"),
            models.Index(fields=["name"], name="job_name_idx"),
            models.Index(fields=["latest_run_status"], name="job_latest_run_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "Must be an object."})
        if not self.name or not self.name.strip():
            raise ValidationError({"name": "A job needs a name."})
        if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in self.name):
            # A newline or an escape sequence in a name would forge lines in logs and sync-jobs output.
            raise ValidationError({"name": "A job name cannot hold control characters (newlines, tabs, escapes)."})


class JobValue(models.Model):
    """The value a job has in one dimension; the unique constraint keeps it to one value per dimension."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="job_values")
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="+")
    value = models.ForeignKey(DimensionValue, on_delete=models.PROTECT, related_name="job_values")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "dimension"], name="job_value_one_per_dimension")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.value}"

    def clean(self) -> None:
        if self.value_id and self.dimension_id and self.value.dimension_id != self.dimension_id:
            raise ValidationError({"value": "The value does not belong to this dimension."})
