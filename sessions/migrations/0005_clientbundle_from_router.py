# ClientBundle moved here from the router app; its table, router_clientbundle, stays as it is.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandboxes", "0004_session_client_address"),
        ("router", "0002_clientbundle_to_sandboxes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ClientBundle",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("ca_cert", models.TextField()),
                        ("client_cert", models.TextField()),
                        ("client_key", models.TextField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "instance",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="client_bundle",
                                to="sandboxes.instance",
                            ),
                        ),
                    ],
                    options={"db_table": "router_clientbundle"},
                ),
            ],
            database_operations=[],
        ),
    ]
