"""Who may lock what: LOCKABLE_LOCK_PERMISSION.

A uid names one document exactly as ``Document.lock_uid`` does:
``documents.document:<pk>``, the pk in ASCII decimal digits without a
leading zero or sign (``str.isdigit`` would let ``١``, ``１`` and ``²``
through, and ``0001`` is the same document as ``1``: each would be a lock
of its own on one document).
"""
import re
from typing import Any, Optional

from .models import Document

PREFIX = "documents.document:"
# The pk's canonical text: what str(pk) gives for an AutoField (int4).
_PK = re.compile(r"[1-9][0-9]{0,9}")
_MAX_PK = 2**31 - 1


def document_pk(uid: str) -> Optional[int]:
    """The pk of the document uid names, or None if it names none in
    canonical form (a prefix, then ASCII digits, no leading zero, in int4)."""
    if not uid.startswith(PREFIX):
        return None
    text = uid[len(PREFIX):]
    if _PK.fullmatch(text) is None:
        return None
    pk = int(text)
    return pk if pk <= _MAX_PK else None


def may_lock(request: Any, uid: str) -> bool:
    """Any logged-in user may lock an existing document, and nothing else."""
    pk = document_pk(uid)
    return pk is not None and Document.objects.filter(pk=pk).exists()
