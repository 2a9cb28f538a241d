"""django-import-export resources for configuration-sized loyalty data: programs and tiers.

Tiers import and export by program code and tier code (a re-import updates, never duplicates), each row checked
and saved through ``loyalty.services.tiers_save`` like a tier edited in the admin; programs export only, since
their policies are saved through ``loyalty.services.program_save``, which checks them against existing balances.
"""

from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from config.errors import DomainError
from loyalty.models import Program, Tier
from loyalty.services import tiers_check, tiers_save


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

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        super().validate_instance(instance, import_validation_errors, validate_unique)
        try:
            tiers_check(program=instance.program, tiers=[instance])
        except DomainError as error:
            raise ValidationError({error.field or "__all__": [error.message]}) from error

    def do_instance_save(self, instance, is_create):
        tiers_save(program=instance.program, tiers=[instance])
