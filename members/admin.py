"""Members in the operator console. Every write goes through ``members.services``.

Programs, balances and the ledger are added to the member page by ``loyalty.admin_member``, which subclasses
``MemberAdmin``: members know nothing of loyalty.
"""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_helpers import (
    BigTableAdminMixin,
    ConfirmForm,
    IdentifierSearchMixin,
    add_domain_error,
    object_for_action,
    service_form_view,
)
from config.errors import DomainError, InvalidInput
from config.exports import StreamingExportMixin
from members.models import Member
from members.normalize import normalize_phone
from members.resources import MemberResource
from members.services import (
    UPDATABLE_FIELDS,
    member_block,
    member_clean_fields,
    member_create,
    member_unblock,
    member_update,
)

BLOCK_PERMISSION = "members.block_member"


def _phone_or_none(term: str) -> str | None:
    """A search term that is a full international number, in E.164; anything else is not a phone search."""
    if not term.startswith("+"):
        return None
    try:
        return normalize_phone(term)
    except InvalidInput:
        return None


class MemberAdminForm(forms.ModelForm):
    """Validates and normalises with the same rules as ``member_create`` / ``member_update``."""

    class Meta:
        model = Member
        fields = ["external_id", *sorted(UPDATABLE_FIELDS)]

    def clean(self):
        cleaned_data = super().clean()
        fields = {name: cleaned_data[name] for name in UPDATABLE_FIELDS if name in cleaned_data}
        try:
            cleaned_data.update(member_clean_fields(fields))
        except DomainError as error:
            add_domain_error(self, error)
        return cleaned_data


class BlockForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Shown to other staff on the member page; the member cannot earn or spend while blocked."),
    )


@admin.register(Member)
class MemberAdmin(StreamingExportMixin, IdentifierSearchMixin, BigTableAdminMixin, admin.ModelAdmin):
    export_resource_class = MemberResource
    form = MemberAdminForm
    list_display = ["external_id", "display_name", "email", "phone", "status", "enrollment_channel", "joined_at"]
    list_filter = ["status", "enrollment_channel", ("joined_at", admin.DateFieldListFilter)]
    search_fields = ["external_id__startswith", "email__startswith", "phone__exact"]
    search_term_normalisers = {"email__startswith": str.lower, "phone__exact": _phone_or_none}
    search_help_text = _("The start of an external id or email, or a full phone number with its country code.")
    ordering = ["-id"]
    # Only columns an index can return in order: sorting two million rows by anything else is a full sort.
    sortable_by = ["external_id", "joined_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "first_name", "last_name"]}),
        (_("Contact"), {"fields": ["email", "phone", "preferred_language"]}),
        (_("Profile"), {"fields": ["birth_date", "gender", "city", "region", "country"]}),
        (_("Status"), {"fields": ["status", "blocked_reason", "enrollment_channel", "joined_at", "updated_at"]}),
    ]
    status_fields = ("status", "blocked_reason", "enrollment_channel", "joined_at", "updated_at")

    @admin.display(description=_("name"))
    def display_name(self, member: Member) -> str:
        return member.full_name

    def get_readonly_fields(self, request: HttpRequest, obj: Member | None = None):
        # The external id is the key partner systems know the member by; it is set once.
        return ("external_id", *self.status_fields) if obj else self.status_fields

    def has_delete_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        # Accounts and their ledger keep members; removing personal data is a privacy erasure, not a delete.
        return False

    def save_model(self, request: HttpRequest, obj: Member, form: MemberAdminForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in UPDATABLE_FIELDS if name in form.changed_data}
            if changed:
                member_update(member=obj, **changed)
            return
        fields = {name: data[name] for name in UPDATABLE_FIELDS if name in data}
        member = member_create(external_id=data["external_id"], enrollment_channel=Member.Channel.STAFF, **fields)
        obj.pk = member.pk
        obj.refresh_from_db()

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/block/",
                self.admin_site.admin_view(self.block_view),
                name="{}_{}_block".format(*info),
            ),
            path(
                "<path:object_id>/unblock/",
                self.admin_site.admin_view(self.unblock_view),
                name="{}_{}_unblock".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {"can_block_member": request.user.has_perm(BLOCK_PERMISSION), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def member_url(self, member: Member) -> str:
        return reverse("admin:members_member_change", args=[member.pk], current_app=self.admin_site.name)

    def block_view(self, request: HttpRequest, object_id: str):
        member = object_for_action(self, request, object_id, allowed=request.user.has_perm(BLOCK_PERMISSION))
        return service_form_view(
            request,
            model_admin=self,
            obj=member,
            form_class=BlockForm,
            perform=lambda data: member_block(member=member, reason=data["reason"]),
            title=gettext("Block member"),
            success_message=lambda blocked: gettext("%(member)s is blocked.") % {"member": blocked},
            redirect_url=self.member_url(member),
            log_message=gettext("Blocked."),
            extra_context={"submit_label": gettext("Block")},
        )

    def unblock_view(self, request: HttpRequest, object_id: str):
        member = object_for_action(self, request, object_id, allowed=request.user.has_perm(BLOCK_PERMISSION))
        return service_form_view(
            request,
            model_admin=self,
            obj=member,
            form_class=ConfirmForm,
            perform=lambda data: member_unblock(member=member),
            title=gettext("Unblock member"),
            success_message=lambda unblocked: gettext("%(member)s is active again.") % {"member": unblocked},
            redirect_url=self.member_url(member),
            log_message=gettext("Unblocked."),
            extra_context={
                "submit_label": gettext("Unblock"),
                "description": gettext("Blocked because: %(reason)s") % {"reason": member.blocked_reason},
            },
        )
