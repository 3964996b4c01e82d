from django.db import migrations

from django_lockable.operations import EnableSaveAnnouncements


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    operations = [
        # A save sends "saved" (the document's lock, who saved, the new
        # version): the live-editing sockets of the document hear it
        # (lockable 1.4).
        EnableSaveAnnouncements("Document"),
    ]
