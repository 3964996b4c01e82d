"""manage.py example_setup: the demo's users and documents (idempotent).

Users alice, bob and carol with password "lockable", and three documents.  Carol may take a document over
from whoever edits it (the permission django_lockable.take_over_lock).
--documents N makes sure there are at least N documents; --extra-users N
adds users user0 .. user<N-1> (same password), for load tests.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

from documents.models import Document

PASSWORD = "lockable"
TITLES = ["Meeting notes", "Release plan", "Style guide"]


class Command(BaseCommand):
    help = "Create the example's users (alice, bob, carol; password lockable) and documents."

    def add_arguments(self, parser):
        parser.add_argument("--documents", type=int, default=len(TITLES))
        parser.add_argument("--extra-users", type=int, default=0)

    def handle(self, *args, documents, extra_users, **options):
        User = get_user_model()
        password = make_password(PASSWORD)  # hashed once: --extra-users may be hundreds
        names = ["alice", "bob", "carol"] + [f"user{i}" for i in range(extra_users)]
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        User.objects.bulk_create([User(username=name, password=password) for name in names if name not in existing])
        take_over = Permission.objects.get(content_type__app_label="django_lockable", codename="take_over_lock")
        User.objects.get(username="carol").user_permissions.add(take_over)
        have = Document.objects.count()
        for number in range(have, documents):
            title = TITLES[number] if number < len(TITLES) else f"Document {number + 1}"
            Document.objects.create(title=title, body=f"The first version of “{title}”.\n")
        self.stdout.write(f"users: {len(names)}, documents: {Document.objects.count()}")
