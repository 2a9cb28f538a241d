"""django-import-export resources for configuration-sized loyalty data: programs and tiers.

Tiers import and export by program code and tier code (a re-import updates, never duplicates); programs export
only, since their policies are saved through ``loyalty.services.program_save``, which checks them against
existing balances.
"""

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from loyalty.models import Program, Tier


class ProgramResource(resources.ModelResource):
    class Meta:
        model = Program
        import_id_fields = ["code"]
        fields = [
            "code",
            "name",
            "active",
            "points_name",
            "currency",
            "earn_rate",
            "point_value",
            "rounding",
            "pending_days",
            "expiry_policy",
            "expiry_period",
            "expiry_period_unit",
            "expiry_round_to_period_end",
            "expiry_fixed_month",
            "expiry_fixed_day",
            "negative_balance_policy",
            "timezone",
            "nightly_hour",
        ]
        export_order = fields


class TierResource(resources.ModelResource):
    program = fields.Field(attribute="program", column_name="program", widget=ForeignKeyWidget(Program, "code"))

    class Meta:
        model = Tier
        import_id_fields = ["program", "code"]
        fields = [
            "program",
            "code",
            "name",
            "rank",
            "metric",
            "window",
            "window_months",
            "threshold",
            "earn_multiplier",
            "downgrade_grace_days",
        ]
        export_order = fields
        skip_unchanged = True
        report_skipped = True

    def before_save_instance(self, instance: Tier, row, **kwargs) -> None:
        # The model's constraints hold in the database; full_clean gives the operator the field and reason.
        instance.full_clean(validate_unique=False, validate_constraints=False)
