# ClientBundle moved to the sandboxes app (sessions/models.py), which keeps its table: only the state changes.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("router", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ClientBundle")],
            database_operations=[],
        ),
    ]
