from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cldweb", "0004_run_progress")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="device_name",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
