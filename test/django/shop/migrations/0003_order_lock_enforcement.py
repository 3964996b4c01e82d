# As in README.md: the enforcement trigger, installed by a migration.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_order_versioning")]
    operations = [
        migrations.RunSQL(
            "SELECT lockable.enable_lock_enforcement('shop_order', 'id', 'order:')",
            reverse_sql="SELECT lockable.disable_lock_enforcement('shop_order')",
        ),
    ]
