from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("testapp", "0002_triggers")]
    operations = [
        migrations.CreateModel(
            name="Draft",
            fields=[],
            options={"proxy": True, "indexes": [], "constraints": []},
            bases=("testapp.document",),
        ),
    ]
