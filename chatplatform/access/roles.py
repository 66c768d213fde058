"""The three roles and their permissions. Used by the data migration and by `user_set_role`.

Kept as plain data (no model imports) so a migration can import it safely.
"""

from __future__ import annotations

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
# inbox's canned replies).
ADMIN_MODEL_APPS: tuple[str, ...] = ("bots", "analytics", "inbox")

# Agents answer visitors in the inbox: no bot configuration, no analytics unless also analysts.
AGENT_PERMISSIONS: tuple[str, ...] = ("inbox.use_inbox",)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMIN: ANALYST_PERMISSIONS + ADMIN_ONLY_PERMISSIONS + AGENT_PERMISSIONS,
    ANALYST: ANALYST_PERMISSIONS,
    AGENT: AGENT_PERMISSIONS,
}
