"""Resumable uploads: a file sent in pieces before it becomes a submission."""

from pathlib import Path
import uuid

from django.conf import settings
from django.db import models


class Upload(models.Model):
    """A file on its way in, ``offset`` of ``length`` bytes received so far.

    The bytes live in a part file under ``settings.UPLOAD_INCOMING_DIR``; the
    row is the truth about how many of them count. Once complete, the
    upload is turned into a submission and both go away.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    def __str__(self):
        return f"{self.filename} ({self.offset:,} of {self.length:,} bytes)"

    @property
    def part_path(self) -> Path:
        return Path(settings.UPLOAD_INCOMING_DIR) / f"{self.id}.part"

    @property
    def is_complete(self) -> bool:
        return self.offset == self.length
