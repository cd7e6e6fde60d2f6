"""Runs: one execution of a job on the orchestrator, kept after the orchestrator forgets it."""

from django.db import models

from striv.drivers.base import FINISHED_RUN_STATUSES, UNFINISHED_RUN_STATUSES, RunStatus
from striv.jobs.models import Job


class RunQuerySet(models.QuerySet):
    def unfinished(self) -> "RunQuerySet":
        return self.filter(status__in=UNFINISHED_RUN_STATUSES)

    def finished(self) -> "RunQuerySet":
        return self.filter(status__in=Run.FINISHED)

    def to_archive(self) -> "RunQuerySet":
        """Finished runs whose logs are neither archived nor known to be gone."""
        return self.finished().filter(archived_at__isnull=True, logs_expired=False)


class Run(models.Model):
    """A run as discovered by the refresher; ``external_id`` is the orchestrator's id for it."""

    # The statuses are defined once, with the driver contract that reports them.
    Status = RunStatus
    FINISHED = FINISHED_RUN_STATUSES

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    external_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.TextField(blank=True, default="")
    created = models.DateTimeField()
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    tasks = models.JSONField(default=list, blank=True)
    log_archive_key = models.CharField(max_length=500, blank=True, default="")
    archived_at = models.DateTimeField(null=True, blank=True)
    # Archiving is claimed in the database so that two refreshers never archive one run twice.
    archive_claim = models.CharField(max_length=64, blank=True, default="")
    archive_claimed_until = models.DateTimeField(null=True, blank=True)
    archive_attempts = models.PositiveIntegerField(default=0)
    archive_error = models.TextField(blank=True, default="")
    # The cluster lost the logs before they were archived.
    logs_expired = models.BooleanField(default=False)
    updated = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "external_id"], name="run_unique_external_id")]
        indexes = [
            models.Index(fields=["job", "-created"], name="run_job_created_idx"),
            models.Index(fields=["status"], name="run_status_idx"),
            models.Index(fields=["-created"], name="run_created_idx"),
            models.Index(fields=["archived_at", "status"], name="run_archive_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.external_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class ClusterCursor(models.Model):
    """How far the refresher has read one cluster (and namespace): its change index and newest creation marker."""

    key = models.CharField(max_length=500, unique=True)
    index = models.BigIntegerField(default=0)
    create_index = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} @ {self.index}"
