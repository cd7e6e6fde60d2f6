"""Runs: one execution of a job on the orchestrator, kept after the orchestrator forgets it."""

from django.db import models

from striv.jobs.models import Job


class RunQuerySet(models.QuerySet):
    def unfinished(self) -> "RunQuerySet":
        return self.filter(status__in=[Run.Status.PENDING, Run.Status.RUNNING])


class Run(models.Model):
    """A run as discovered by the refresher; ``external_id`` is the orchestrator's id for it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCESSFUL = "successful", "Successful"
        FAILED = "failed", "Failed"
        LOST = "lost", "Lost"

    FINISHED = (Status.SUCCESSFUL, Status.FAILED, Status.LOST)

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
    updated = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "external_id"], name="run_unique_external_id")]
        indexes = [
            models.Index(fields=["job", "-created"], name="run_job_created_idx"),
            models.Index(fields=["status"], name="run_status_idx"),
            models.Index(fields=["-created"], name="run_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.external_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
