from django.db import models

from django_lockable.models import LockableModel, VersionedModel


class Document(VersionedModel, LockableModel):
    """A document: one editor at a time (its lock is ``lock_uid``,
    ``documents.document:<pk>``), saves checked against the version read."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
