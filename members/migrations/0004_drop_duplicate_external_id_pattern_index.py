from django.db import migrations

# Django gives a unique CharField its own varchar_pattern_ops index; members_external_id_like (declared in
# Member.Meta, the one the admin's prefix search is tested against) is the same index under a stable name, so
# the automatic one only doubled the work of every member insert.
AUTO_PATTERN_INDEX = "members_member_external_id_dbaa8fd3_like"


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_drop_duplicate_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"DROP INDEX IF EXISTS {AUTO_PATTERN_INDEX}",
            reverse_sql=(
                f"CREATE INDEX IF NOT EXISTS {AUTO_PATTERN_INDEX} ON members_member (external_id varchar_pattern_ops)"
            ),
        ),
    ]
