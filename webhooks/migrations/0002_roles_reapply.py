"""Re-apply the role permissions: admins get the webhook models' permissions (endpoints, the
delivery log). Additive only, like inbox/0004_roles_reapply."""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("inbox", "0004_roles_reapply"),
        ("analytics", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
