"""Admins get the audit log's view permission (search it in the admin). Additive only."""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("bots", "0012_retention_days"),
        ("privacy", "0002_roles_reapply"),
        ("actions", "0004_step_up_sender"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
