"""Re-apply the role permissions: admins get the inbox's model permissions (canned replies), and
any database whose groups predate the inbox gets `inbox.use_inbox` for agents and admins.

Permissions are normally created after all migrations (post_migrate), so they are created here
first, as analytics/0002_roles does. Additive only: nothing an operator granted is taken away.
"""

from django.db import migrations

from chatplatform.access.roles import roles_reapply


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_canned_replies_read_marks"),
        ("analytics", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
