"""The unmanaged models of the extension's views (``Lock``,
``LockHistory``): no table is created or dropped, only Django's state and,
after migrating, the package's permissions (``django_lockable.view_lock``,
``take_over_lock``, ``break_lock``, ``view_lockhistory``)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Lock",
            fields=[
                ("uid", models.TextField(primary_key=True, serialize=False)),
                ("owner", models.TextField()),
                ("token", models.BigIntegerField()),
                ("acquired_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
                ("waiters", models.IntegerField()),
            ],
            options={
                "verbose_name": "live lock",
                "verbose_name_plural": "live locks",
                "db_table": '"lockable"."active_locks"',
                "ordering": ("uid",),
                "permissions": (
                    ("take_over_lock", "Can take a lock over from its holder"),
                    ("break_lock", "Can release anyone's lock"),
                ),
                "managed": False,
                "default_permissions": ("view",),
                "base_manager_name": "objects",
            },
        ),
        migrations.CreateModel(
            name="LockHistory",
            fields=[
                ("at", models.DateTimeField(primary_key=True, serialize=False)),
                ("event", models.TextField()),
                ("uid", models.TextField()),
                ("owner", models.TextField(null=True)),
                ("token", models.BigIntegerField(null=True)),
                ("previous_owner", models.TextField(null=True)),
                ("reason", models.TextField(null=True)),
                ("role", models.TextField()),
            ],
            options={
                "verbose_name": "lock history event",
                "verbose_name_plural": "lock history",
                "db_table": '"lockable"."lock_history"',
                "ordering": ("-at", "uid", "event", "owner", "token", "previous_owner", "reason", "role"),
                "managed": False,
                "default_permissions": ("view",),
                "base_manager_name": "objects",
            },
        ),
    ]
