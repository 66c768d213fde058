"""The database itself refuses to change or delete an audit entry (not only the admin and the
model): a bug or a hand-written UPDATE cannot rewrite who did what. Truncating the table (tests'
flush, an operator's deliberate reset) is not a row change and stays possible."""

from django.db import migrations

FORBID = """
CREATE FUNCTION audit_entry_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_forbid_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
