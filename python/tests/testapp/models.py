"""The models of the test project, as an application would write them."""
import uuid

from django.db import models

from django_lockable.models import LockableModel, VersionedModel


class Document(VersionedModel, LockableModel):
    """Versioned and lock-enforced (mode if_locked): the editor's record."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.title


class Draft(Document):
    """A proxy: its rows are Document rows, under the same locks."""

    class Meta:
        proxy = True


class Ticket(LockableModel):
    """Lock-enforced in mode required, with a UUID key: only the holder of a
    row's lock may write it, and the trigger's uid must match lock_uid for
    keys whose text is not a number."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subject = models.CharField(max_length=200)
