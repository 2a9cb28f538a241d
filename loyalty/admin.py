"""Programs, tiers, accounts and the ledger in the operator console.

The ledger and what hangs off it (lots, tier changes) is history: read-only here. Balances change only through
``loyalty.services``: the account page offers "adjust points" and "recompute tier", each a small form calling
one service. The member page gains its accounts from ``loyalty.admin_member``.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin, ImportExportMixin

from config.admin_helpers import (
    BigTableAdminMixin,
    ConfirmForm,
    IdentifierSearchMixin,
    ReadOnlyAdminMixin,
    add_domain_error,
    object_for_action,
    service_form_view,
)
from config.errors import DomainError
from config.exports import StreamingExportMixin
from loyalty import admin_adjustments  # noqa: F401  (registers the adjustment requests)
from loyalty.admin_common import (
    ADJUST_PERMISSION,
    RECOMPUTE_PERMISSIONS,
    AccountColumnsMixin,
    account_label,
    account_permissions,
    queryset_of_members,
)
from loyalty.admin_member import MemberWithAccountsAdmin
from loyalty.models import AdjustmentRequest, LedgerEntry, PointAccount, PointLot, Program, Tier, TierChange
from loyalty.resources import ProgramResource, TierResource
from loyalty.services import (
    adjustment_submit,
    program_save,
    program_validate,
    tier_evaluate_account,
    tiers_check,
    tiers_save,
)
from members.models import Member


class HistoryAdmin(StreamingExportMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A big read-only table: shown and exported (CSV / XLSX, streamed), never written from the admin."""


class TierInlineFormSet(forms.BaseInlineFormSet):
    """The program's tiers are checked as a whole (entry tier at 0, thresholds rising with rank)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [form.instance for form in self.forms if form.has_changed() and not self._should_delete_form(form)]
        removed = [form.instance for form in self.deleted_forms if form.instance.pk is not None]
        try:
            tiers_check(program=self.instance, tiers=kept, deleted=removed)
        except DomainError as error:
            raise forms.ValidationError(error.message, code=error.code) from error


class TierInline(admin.TabularInline):
    model = Tier
    formset = TierInlineFormSet
    extra = 0
    ordering = ["rank"]
    fields = [
        "rank",
        "code",
        "name",
        "metric",
        "window",
        "window_months",
        "threshold",
        "earn_multiplier",
        "downgrade_grace_days",
    ]


class ProgramForm(forms.ModelForm):
    """The admin builds this form's fields from ProgramAdmin.fieldsets; the service check runs after the model's."""

    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            try:
                program_validate(self.instance)
            except DomainError as error:
                add_domain_error(self, error)


@admin.register(Program)
class ProgramAdmin(ExportMixin, admin.ModelAdmin):
    resource_classes = [ProgramResource]
    form = ProgramForm
    list_display = ["code", "name", "active", "points_name", "currency", "earn_rate", "expiry_policy"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    inlines = [TierInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "active", "points_name", "currency", "timezone"]}),
        (_("Earning"), {"fields": ["earn_rate", "rounding", "pending_days", "point_value"]}),
        (
            _("Expiry"),
            {
                "fields": [
                    "expiry_policy",
                    "expiry_period",
                    "expiry_period_unit",
                    "expiry_round_to_period_end",
                    "expiry_fixed_month",
                    "expiry_fixed_day",
                    "expiry_warning_days",
                ]
            },
        ),
        (_("Balances"), {"fields": ["negative_balance_policy", "allow_transfers"]}),
        (_("Nightly jobs"), {"fields": ["nightly_hour"]}),
    ]

    def save_model(self, request, obj, form, change):
        program_save(program=obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Tier:
            return super().save_formset(request, form, formset, change)
        changed = formset.save(commit=False)
        tiers_save(program=form.instance, tiers=changed, deleted=formset.deleted_objects)


class TierForm(forms.ModelForm):
    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            try:
                tiers_check(program=self.instance.program, tiers=[self.instance])
            except DomainError as error:
                add_domain_error(self, error)


@admin.register(Tier)
class TierAdmin(ImportExportMixin, admin.ModelAdmin):
    resource_classes = [TierResource]
    form = TierForm
    list_display = ["name", "program", "rank", "code", "metric", "window", "threshold", "earn_multiplier"]
    list_filter = ["program"]
    list_select_related = ["program"]
    search_fields = ["code", "name"]
    ordering = ["program__name", "rank"]

    @staticmethod
    def _by_program(tiers) -> list[tuple[Program, list[Tier]]]:
        programs: dict[int, tuple[Program, list[Tier]]] = {}
        for tier in tiers:
            programs.setdefault(tier.program_id, (tier.program, []))[1].append(tier)
        return list(programs.values())

    def save_model(self, request, obj, form, change):
        tiers_save(program=obj.program, tiers=[obj])

    def get_deleted_objects(self, objs, request):
        """A deletion the tier rules refuse is listed with the protected objects, which stops it on the
        confirmation page."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for program, tiers in self._by_program(objs):
            try:
                tiers_check(program=program, deleted=tiers)
            except DomainError as error:
                protected = [*protected, error.message]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        tiers_save(program=obj.program, deleted=[obj])

    def delete_queryset(self, request, queryset):
        for program, tiers in self._by_program(queryset.select_related("program")):
            tiers_save(program=program, deleted=tiers)


class TierFilter(admin.SimpleListFilter):
    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin):
        return [(tier.pk, str(tier)) for tier in Tier.objects.select_related("program").order_by("program", "rank")]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() is None:
            return queryset
        if not self.value().isdigit():
            raise IncorrectLookupParameters(self.value())
        return queryset.filter(tier_id=self.value())


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(label=_("Points"))
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Kept on the ledger entry for everyone to see.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["points"].help_text = gettext(
            "Positive to add points, negative to take them away. Above %(threshold)s points either way, "
            "a second person must approve."
        ) % {"threshold": settings.LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD}


@admin.register(PointAccount)
class PointAccountAdmin(IdentifierSearchMixin, HistoryAdmin):
    list_display = ["member", "program", "tier", "available", "pending", "lifetime_earned", "last_activity_at"]
    list_select_related = ["member", "program", "tier__program"]
    list_filter = ["program", TierFilter]
    search_fields = ["member__external_id__startswith", "member__email__startswith"]
    search_term_normalisers = {"member__email__startswith": str.lower}
    search_help_text = _("The start of the member's external id or email.")
    ordering = ["-id"]
    sortable_by = []
    change_form_template = "admin/loyalty/pointaccount/change_form.html"
    fields = [
        "member",
        "program",
        "tier",
        "tier_achieved_at",
        "tier_grace_until",
        "available",
        "pending",
        "lifetime_earned",
        "lifetime_spent",
        "lifetime_expired",
        "last_activity_at",
        "created_at",
    ]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="{}_{}_adjust".format(*info),
            ),
            path(
                "<path:object_id>/recompute-tier/",
                self.admin_site.admin_view(self.recompute_tier_view),
                name="{}_{}_recompute_tier".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**account_permissions(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["subtitle"] = account_label(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def after_action_url(self, request: HttpRequest, account: PointAccount) -> str:
        """Back to the member page, where balances, lots and the ledger are all in view."""
        if request.user.has_perm("members.view_member"):
            url = reverse("admin:members_member_change", args=[account.member_id], current_app=self.admin_site.name)
            return f"{url}#account-{account.pk}"
        return reverse("admin:loyalty_pointaccount_change", args=[account.pk], current_app=self.admin_site.name)

    def adjust_view(self, request: HttpRequest, object_id: str):
        account = object_for_action(self, request, object_id, allowed=request.user.has_perm(ADJUST_PERMISSION))

        def submitted(adjustment: AdjustmentRequest) -> str:
            values = {"points": f"{adjustment.points:+d}", "entry": adjustment.entry_id}
            if adjustment.status == AdjustmentRequest.Status.APPLIED:
                return (
                    ngettext(
                        "Recorded an adjustment of %(points)s point (entry %(entry)s).",
                        "Recorded an adjustment of %(points)s points (entry %(entry)s).",
                        abs(adjustment.points),
                    )
                    % values
                )
            return (
                ngettext(
                    "The adjustment of %(points)s point waits for a second person's approval.",
                    "The adjustment of %(points)s points waits for a second person's approval.",
                    abs(adjustment.points),
                )
                % values
            )

        return service_form_view(
            request,
            model_admin=self,
            obj=account,
            form_class=AdjustPointsForm,
            perform=lambda data: adjustment_submit(
                account=account, points=data["points"], reason=data["reason"], user=request.user
            ),
            title=gettext("Adjust points"),
            success_message=submitted,
            redirect_url=self.after_action_url(request, account),
            log_message=gettext("Submitted a points adjustment."),
            extra_context={
                "subtitle": account_label(account),
                "submit_label": gettext("Record adjustment"),
                "description": gettext("%(member)s has %(available)s available in %(program)s.")
                % {"member": account.member, "available": account.available, "program": account.program},
            },
        )

    def recompute_tier_view(self, request: HttpRequest, object_id: str):
        allowed = any(request.user.has_perm(permission) for permission in RECOMPUTE_PERMISSIONS)
        account = object_for_action(self, request, object_id, allowed=allowed)
        return service_form_view(
            request,
            model_admin=self,
            obj=account,
            form_class=ConfirmForm,
            perform=lambda data: tier_evaluate_account(account=account),
            title=gettext("Recompute tier"),
            success_message=lambda evaluated: (
                gettext("Tier recomputed: %(tier)s.")
                % {"tier": evaluated.tier.name if evaluated.tier else gettext("none")}
            ),
            redirect_url=self.after_action_url(request, account),
            extra_context={
                "subtitle": account_label(account),
                "submit_label": gettext("Recompute tier"),
                "description": gettext("Evaluate the member's tier now by the program's tier rules."),
            },
        )


@admin.register(PointLot)
class PointLotAdmin(AccountColumnsMixin, HistoryAdmin):
    list_display = [
        "id",
        "account_member",
        "account_program",
        "points",
        "remaining",
        "activates_at",
        "activated_at",
        "expires_at",
        "entry",
    ]
    list_select_related = ["account__member", "account__program", "entry"]
    # The default order (by expiry) has no index over the whole table.
    ordering = ["-id"]
    sortable_by = ["id"]
    search_fields = ["account__member__external_id__startswith"]
    search_help_text = _("The start of the member's external id.")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return queryset_of_members(queryset, search_term)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AccountColumnsMixin, HistoryAdmin):
    list_display = [
        "id",
        "effective_at",
        "account_member",
        "account_program",
        "kind",
        "points",
        "source_type",
        "external_reference",
        "reason",
        "created_by",
    ]
    list_select_related = ["account__member", "account__program", "created_by"]
    list_filter = [
        "kind",
        "source_type",
        ("effective_at", admin.DateFieldListFilter),
        ("account__program", admin.RelatedFieldListFilter),
    ]
    search_fields = ["external_reference__startswith", "account__member__external_id__startswith"]
    search_help_text = _("The start of an external reference or of the member's external id.")
    ordering = ["-id"]
    sortable_by = ["id", "effective_at"]
    fieldsets = [
        (None, {"fields": ["account", "kind", "points", "effective_at", "created_at"]}),
        (_("Source"), {"fields": ["source_type", "source_id", "created_by", "external_reference", "reason"]}),
        (_("Details"), {"fields": ["reverses", "spend_amount", "currency", "metadata"]}),
    ]

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return queryset_of_members(queryset, search_term, reference=True)


@admin.register(TierChange)
class TierChangeAdmin(AccountColumnsMixin, HistoryAdmin):
    list_display = ["changed_at", "account_member", "account_program", "from_tier", "to_tier", "reason", "changed_by"]
    list_select_related = [
        "account__member",
        "account__program",
        "from_tier__program",
        "to_tier__program",
        "changed_by",
    ]
    ordering = ["-id"]
    sortable_by = []
    search_fields = ["account__member__external_id__startswith"]
    search_help_text = _("The start of the member's external id.")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return queryset_of_members(queryset, search_term)


admin.site.unregister(Member)
admin.site.register(Member, MemberWithAccountsAdmin)

# The Imports section (legacy file upload, dry run, commit, progress, undo).
import loyalty.admin_imports  # noqa: E402, F401

# Partners, their API keys and the webhook delivery log.
from loyalty import admin_partners  # noqa: E402, F401
