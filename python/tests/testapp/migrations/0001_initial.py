import uuid

from django.db import migrations, models

from django_lockable.operations import CreateLockableExtension


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        CreateLockableExtension(),
        migrations.CreateModel(
            name="Document",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=1, editable=False)),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True, default="")),
            ],
            options={"abstract": False},
        ),
        migrations.CreateModel(
            name="Ticket",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ("subject", models.CharField(max_length=200)),
            ],
            options={"abstract": False},
        ),
    ]
