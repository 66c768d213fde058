"""Re-apply the role permissions: admins get the inbox's model permissions (canned replies), and
any database whose groups predate the inbox gets `inbox.use_inbox` for agents and admins.

Permissions are normally created after all migrations (post_migrate), so they are created here
first, as analytics/0002_roles does. Additive only: nothing an operator granted is taken away.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from chatplatform.access.roles import ADMIN, ADMIN_MODEL_APPS, ROLE_PERMISSIONS


def roles_reapply(apps, schema_editor):
    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which a migration state's apps
        # lack; put back what was there (the project's own registry, in a test, keeps its modules).
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        if role == ADMIN:
            wanted.extend(Permission.objects.filter(content_type__app_label__in=ADMIN_MODEL_APPS))
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_canned_replies_read_marks"),
        ("analytics", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_reapply, migrations.RunPython.noop)]
