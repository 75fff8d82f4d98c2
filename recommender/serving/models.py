"""Batch recommendation jobs: all users (or a list) scored on a worker into a downloadable file."""

from django.db import models
from django.utils import timezone

from recommender.data.models import MAX_ID_LENGTH
from tenants.models import TenantOwnedModel


class BatchJob(TenantOwnedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"

    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="batch_jobs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    file_format = models.CharField(max_length=10, choices=Format.choices, default=Format.CSV)
    k = models.PositiveIntegerField(default=10)
    user_ids = models.JSONField(null=True, blank=True, help_text="The users to score; null for every known user.")
    sessions = models.JSONField(
        null=True, blank=True, help_text="Anonymous sessions to score instead of users: [{session_id, item_ids}]."
    )
    # Jobs over every user read them slice by slice in id order: the last id written, where the next slice starts.
    cursor = models.CharField(max_length=MAX_ID_LENGTH, blank=True, default="")
    users_total = models.PositiveIntegerField(default=0)
    users_done = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=300, blank=True)
    file_bytes = models.PositiveBigIntegerField(default=0, help_text="Size of the file, for the storage quota.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Batch {self.pk} of {self.config_id} ({self.status})"

    @property
    def progress(self):
        return round(self.users_done / self.users_total, 4) if self.users_total else 0.0
