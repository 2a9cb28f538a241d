"""django-import-export resources for members: the members export (CSV / XLSX from the admin).

Members are written only through ``members.services``; this resource is for export. Bulk imports of members
and balances go through the legacy import (``loyalty.legacy_import``), which validates set-based.
"""

from import_export import fields, resources

from members.models import Member


class MemberResource(resources.ModelResource):
    joined_at = fields.Field(attribute="joined_at", column_name="joined_at")

    class Meta:
        model = Member
        import_id_fields = ["external_id"]
        fields = [
            "external_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "gender",
            "country",
            "preferred_language",
            "status",
            "enrollment_channel",
            "joined_at",
        ]
        export_order = fields
