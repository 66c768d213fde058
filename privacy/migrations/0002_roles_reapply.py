"""Admins get the privacy models' permissions (erasure receipts, retention runs). Additive only."""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("bots", "0012_retention_days"),
        ("actions", "0004_step_up_sender"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
