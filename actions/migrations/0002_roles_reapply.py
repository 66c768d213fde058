"""Admins get the HTTP actions' model permissions (the admin checks them). Additive only."""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0001_initial"),
        ("bots", "0011_http_actions"),
        ("webhooks", "0002_roles_reapply"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
