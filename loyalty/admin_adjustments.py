"""Manual adjustments in the console: the list of requests, and approve / reject by a second person.

Submitting happens on the account ("adjust points"); ``loyalty.services.adjustment_submit`` applies it at once or
keeps it here until someone other than the requester decides.
"""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_helpers import ReadOnlyAdminMixin, object_for_action, service_form_view
from loyalty.admin_common import APPROVE_PERMISSION, AccountColumnsMixin, account_label, queryset_of_members
from loyalty.models import AdjustmentRequest
from loyalty.services import adjustment_approve, adjustment_reject


class ApproveForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=255, required=False)


class RejectForm(forms.Form):
    note = forms.CharField(label=_("Reason"), max_length=255, help_text=_("Tells the requester why."))


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(AccountColumnsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "requested_at",
        "account_member",
        "account_program",
        "points",
        "reason",
        "status",
        "requested_by",
        "decided_by",
        "entry",
    ]
    list_filter = ["status"]
    list_select_related = ["account__member", "account__program", "requested_by", "decided_by"]
    search_fields = ["account__member__external_id__startswith"]
    search_help_text = _("The start of the member's external id.")
    ordering = ["-id"]
    change_form_template = "admin/loyalty/adjustmentrequest/change_form.html"

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return queryset_of_members(queryset, search_term)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="{}_{}_reject".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {"can_decide": request.user.has_perm(APPROVE_PERMISSION), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def _decision_view(self, request: HttpRequest, object_id: str, *, approve: bool):
        adjustment = object_for_action(self, request, object_id, allowed=request.user.has_perm(APPROVE_PERMISSION))
        values = {"points": f"{adjustment.points:+d}", "account": account_label(adjustment.account)}
        if approve:
            service, form_class = adjustment_approve, ApproveForm
            title, submit_label, log = gettext("Approve adjustment"), gettext("Approve"), gettext("Approved.")
            done = gettext("Applied %(points)s for %(account)s.") % values
        else:
            service, form_class = adjustment_reject, RejectForm
            title, submit_label, log = gettext("Reject adjustment"), gettext("Reject"), gettext("Rejected.")
            done = gettext("Rejected %(points)s for %(account)s.") % values
        return service_form_view(
            request,
            model_admin=self,
            obj=adjustment,
            form_class=form_class,
            perform=lambda data: service(request=adjustment, user=request.user, note=data["note"]),
            title=title,
            success_message=lambda decided: done,
            redirect_url=reverse(
                "admin:loyalty_adjustmentrequest_change", args=[adjustment.pk], current_app=self.admin_site.name
            ),
            log_message=log,
            extra_context={
                "subtitle": values["account"],
                "submit_label": submit_label,
                "description": gettext("%(points)s requested by %(user)s: %(reason)s")
                % {**values, "user": adjustment.requested_by, "reason": adjustment.reason},
            },
        )

    def approve_view(self, request: HttpRequest, object_id: str):
        return self._decision_view(request, object_id, approve=True)

    def reject_view(self, request: HttpRequest, object_id: str):
        return self._decision_view(request, object_id, approve=False)
