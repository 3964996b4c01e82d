"""Who may lock what: LOCKABLE_LOCK_PERMISSION."""
from typing import Any

from .models import Document

PREFIX = "documents.document:"


def may_lock(request: Any, uid: str) -> bool:
    """Any logged-in user may lock an existing document, and nothing else."""
    if not uid.startswith(PREFIX) or not uid[len(PREFIX):].isdigit():
        return False
    return Document.objects.filter(pk=int(uid[len(PREFIX):])).exists()
