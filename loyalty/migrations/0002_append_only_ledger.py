"""The ledger and lot allocations are append-only: the database refuses UPDATE and DELETE on them."""

from django.db import migrations

APPEND_ONLY_TABLES = ["loyalty_ledgerentry", "loyalty_lotallocation"]

FUNCTION = """
CREATE OR REPLACE FUNCTION loyalty_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Write a reversing entry instead.';
END;
$$ LANGUAGE plpgsql;
"""


def _triggers(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION loyalty_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS loyalty_refuse_change() CASCADE;"),
        *[
            migrations.RunSQL(_triggers(table), f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            for table in APPEND_ONLY_TABLES
        ],
    ]
