from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                ("status", models.CharField(max_length=20)),
                ("version", models.BigIntegerField(default=1, editable=False)),
            ],
        ),
    ]
