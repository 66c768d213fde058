"""The three roles and their permissions. Used by the data migration and by `user_set_role`.

Kept as plain data (no model imports) so a migration can import it safely.
"""

from __future__ import annotations

from typing import Any

ADMIN = "admin"
ANALYST = "analyst"
AGENT = "agent"
ROLES = (ADMIN, ANALYST, AGENT)

ANALYST_PERMISSIONS: tuple[str, ...] = (
    "analytics.view_transcripts",
    "analytics.annotate_transcripts",
    "analytics.suggest_intents",
    "analytics.export_transcripts",
    "analytics.view_metrics",
)
ADMIN_ONLY_PERMISSIONS: tuple[str, ...] = (
    "analytics.review_suggestions",
    "analytics.view_pii",
    "analytics.view_all_bots",
)
# Admins also get every model permission of these apps (bot configuration, the admin site; the
# inbox's canned replies; webhook endpoints and their delivery log; HTTP actions; erasures and
# retention runs; the audit log, which its admin and the database keep read-only).
ADMIN_MODEL_APPS: tuple[str, ...] = ("bots", "analytics", "inbox", "webhooks", "actions", "privacy", "audit")

# Agents answer visitors in the inbox: no bot configuration, no analytics unless also analysts.
AGENT_PERMISSIONS: tuple[str, ...] = ("inbox.use_inbox",)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMIN: ANALYST_PERMISSIONS + ADMIN_ONLY_PERMISSIONS + AGENT_PERMISSIONS,
    ANALYST: ANALYST_PERMISSIONS,
    AGENT: AGENT_PERMISSIONS,
}


def roles_reapply(apps: Any, schema_editor: Any) -> None:
    """A data migration's body: give each role group its permissions, admins every model
    permission of ADMIN_MODEL_APPS (new models included). Permissions are normally created after
    all migrations (post_migrate), so they are created here first. Additive only: nothing an
    operator granted is taken away."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which a migration state's apps
        # lack; put back what was there (the project's own registry, in a test, keeps its modules).
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            wanted.extend(permission_model.objects.filter(content_type__app_label=app_label, codename=codename))
        if role == ADMIN:
            wanted.extend(permission_model.objects.filter(content_type__app_label__in=ADMIN_MODEL_APPS))
        group.permissions.add(*wanted)
