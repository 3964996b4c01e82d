from django.db import migrations

from django_lockable.operations import EnableLockEnforcement, EnableVersioning


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        EnableVersioning("Document", column="version"),
        EnableLockEnforcement("Document", column="id"),
        EnableLockEnforcement("Ticket", required=True),
    ]
