"""Give the agent and admin groups the inbox permission (it did not exist when the roles were made)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from chatplatform.access.roles import AGENT_PERMISSIONS, ROLE_PERMISSIONS


def grant(apps, schema_editor):
    config = apps.get_app_config("inbox")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)  # normally only after all migrations
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    codenames = [p.split(".", 1)[1] for p in AGENT_PERMISSIONS]
    perms = list(Permission.objects.filter(content_type__app_label="inbox", codename__in=codenames))
    for role, role_perms in ROLE_PERMISSIONS.items():
        if set(AGENT_PERMISSIONS) <= set(role_perms):
            group, _ = Group.objects.get_or_create(name=role)
            group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial"), ("analytics", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
