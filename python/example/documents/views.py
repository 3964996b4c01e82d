from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render

from django_lockable import policy
from django_lockable._conf import lockable_settings

from .models import Document


@login_required
def document_list(request):
    """Every document, with who edits it now and how many wait."""
    documents = list(Document.objects.all())
    locks = {document.pk: document.lock_status() for document in documents}
    users = get_user_model().objects.in_bulk([status.user_id for status in locks.values() if status])
    rows = []
    for document in documents:
        status = locks[document.pk]
        editor = users.get(status.user_id) if status else None
        rows.append({"document": document, "editor": editor, "waiters": status.waiters if status else 0})
    return render(request, "documents/list.html", {"rows": rows})


@login_required
def document_editor(request, pk):
    """The editor: the form as it is now, and the live lock (lockable.js).

    ``?lock_on=edit`` opens it to read (lockOn "edit": the page views, and
    joins the line on the first keystroke); the default locks on open.  The
    page is told whether the user may take over (the policy, asked about no
    holder in particular: the server asks again about the real one), and
    its own user's id and name (for "you" in the presence list, and the key
    of the drafts this browser keeps); it names no other user."""
    document = get_object_or_404(Document, pk=pk)
    # Test and demo knobs: ?idle=<s>&warn=<s> shorten the page's idle timeout and warning.
    idle = _seconds(request.GET.get("idle"), settings.EXAMPLE_IDLE_TIMEOUT)
    warn = _seconds(request.GET.get("warn"), settings.EXAMPLE_WARN_BEFORE)
    return render(request, "documents/editor.html", {
        "document": document,
        "lock_ttl_ms": int(settings.LOCKABLE_TTL * 1000),
        "idle_timeout_ms": int(idle * 1000),
        "warn_before_ms": int(warn * 1000),
        "presence_idle_ms": int(lockable_settings.IDLE.total_seconds() * 1000),  # LOCKABLE_IDLE
        "lock_on": "edit" if request.GET.get("lock_on") == "edit" else "open",
        "may_take_over": policy.may_take_over(request, document.lock_uid, None),
        "user_name": policy.display_name(request.user),
    })


@login_required
def document_holder(request, pk):
    """Who edits the document now: ``{"user_id", "name"}`` of its live
    holder (both null when nobody holds it; the name as the live statuses
    give it, ``policy.display_name``), which the list page shows to every
    logged-in user too.  The editor page asks for it when a status
    names a holder it cannot name yet; it never gets a list of users."""
    document = get_object_or_404(Document, pk=pk)
    status = document.lock_status()
    user = None
    if status is not None and status.user_id is not None:
        user = get_user_model().objects.filter(pk=status.user_id).first()
    return JsonResponse({"user_id": user.pk if user else None, "name": policy.display_name(user) if user else None})


def _seconds(value, default):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if 0 < seconds < 86400 else default
