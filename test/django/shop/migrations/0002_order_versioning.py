# As in README.md: the version trigger, installed by a migration.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "SELECT lockable.enable_versioning('shop_order')",
            reverse_sql="SELECT lockable.disable_versioning('shop_order')",
        ),
    ]
