"""Admins get the knowledge documents' model permissions (the knowledge API checks them)."""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0008_knowledge_documents"),
        ("analytics", "0002_roles"),
        ("inbox", "0004_roles_reapply"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
