from django.db import migrations, models

from django_lockable.operations import CreateLockableExtension, EnableLockEnforcement, EnableVersioning


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        # Does nothing when a superuser created the extension already (an
        # ordinary role cannot).
        CreateLockableExtension(),
        migrations.CreateModel(
            name="Document",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=1, editable=False)),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True, default="")),
            ],
            options={"ordering": ["id"]},
        ),
        # A save based on a stale version: 40001 (409).  A write to a
        # document another user has locked: 55P03 (423).
        EnableVersioning("Document"),
        EnableLockEnforcement("Document"),
    ]
