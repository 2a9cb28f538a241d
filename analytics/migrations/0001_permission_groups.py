from django.db import migrations

from config.permission_groups import sync_permission_groups


def create_groups(apps, schema_editor):
    sync_permission_groups(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0001_initial"),
        ("loyalty", "0003_lot_expiry_warning"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
