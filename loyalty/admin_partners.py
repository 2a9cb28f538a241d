"""Partners, their API keys and the webhook delivery log in the operator console.

Every write goes through ``loyalty.partners`` / ``loyalty.webhooks``. A new API key is shown on the page that
creates it and nowhere else: it is never put in a message (messages are stored in the session) and the page is
not cached. The delivery log is history, read-only, with a "resend" action.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_helpers import (
    BigTableAdminMixin,
    ConfirmForm,
    ReadOnlyAdminMixin,
    add_domain_error,
    object_for_action,
    service_form_view,
)
from config.errors import DomainError
from loyalty.models import ApiKey, Partner, Scope, WebhookAttempt, WebhookDelivery
from loyalty.models.partners import WEBHOOK_EVENT_CHOICES
from loyalty.partners import (
    PARTNER_FIELDS,
    api_key_create,
    api_key_revoke,
    partner_create,
    partner_update,
    partner_webhook_secret_rotate,
)
from loyalty.webhooks import delivery_body, webhook_delivery_resend


class PartnerForm(forms.ModelForm):
    webhook_url = forms.URLField(
        label=_("Webhook URL"),
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text=_("Empty: no webhooks."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Allowed scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    webhook_events = forms.MultipleChoiceField(
        label=_("Webhook events"),
        choices=WEBHOOK_EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: every event."),
    )

    class Meta:
        model = Partner
        fields = ["name", "program", "active", "scopes", "rate_limit", "webhook_url", "webhook_events"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    form = PartnerForm
    list_display = ["name", "program", "active", "rate_limit", "webhook_url", "created_at"]
    list_filter = ["active", "program"]
    list_select_related = ["program"]
    search_fields = ["name"]
    readonly_fields = ["webhook_secret", "created_at", "updated_at"]
    change_form_template = "admin/loyalty/partner/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # A partner's keys and ledger entries belong to its program: it cannot move to another.
        return [*self.readonly_fields, "program"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Partner, form: PartnerForm, change: bool) -> None:
        if change:
            changed = {name: form.cleaned_data[name] for name in form.changed_data if name in PARTNER_FIELDS}
            saved = partner_update(partner=obj, **changed)
        else:
            fields = {name: form.cleaned_data[name] for name in PARTNER_FIELDS}
            saved = partner_create(program=form.cleaned_data["program"], **fields)
        obj.pk, obj.webhook_secret, obj.created_at = saved.pk, saved.webhook_secret, saved.created_at
        obj._state.adding = False

    def get_urls(self):
        return [
            path(
                "<path:object_id>/rotate-webhook-secret/",
                self.admin_site.admin_view(self.rotate_secret_view),
                name="loyalty_partner_rotate_secret",
            ),
            *super().get_urls(),
        ]

    def rotate_secret_view(self, request: HttpRequest, object_id: str):
        partner = object_for_action(self, request, object_id, allowed=self.has_change_permission(request))
        return service_form_view(
            request,
            model_admin=self,
            obj=partner,
            form_class=ConfirmForm,
            perform=lambda data: partner_webhook_secret_rotate(partner=partner),
            title=gettext("Rotate the webhook signing secret"),
            success_message=lambda saved: gettext(
                "The signing secret was replaced; give the partner the new one shown on this page."
            ),
            redirect_url=reverse("admin:loyalty_partner_change", args=[partner.pk], current_app=self.admin_site.name),
            log_message=gettext("Rotated the webhook signing secret."),
            extra_context={
                "description": gettext(
                    "Deliveries from now on are signed with a new secret; the partner's receiver stops accepting "
                    "them until it has the new one."
                )
            },
        )


class ApiKeyCreateForm(forms.Form):
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=Partner.objects.filter(active=True))
    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("Where the key is used, e.g. 'POS production'."))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only scopes the partner is allowed."),
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "key_prefix", "scope_list", "created_at", "last_used_at", "state"]
    list_filter = ["partner", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["partner"]
    search_fields = ["prefix", "name"]
    fields = ["partner", "name", "key_prefix", "scope_list", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("key"))
    def key_prefix(self, api_key: ApiKey) -> str:
        return f"lk_{api_key.prefix}_…"

    @admin.display(description=_("scopes"))
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    @admin.display(description=_("state"))
    def state(self, api_key: ApiKey) -> str:
        return gettext("active") if api_key.is_active else gettext("revoked")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A key that made ledger entries stays on record; revoke it instead.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loyalty.change_apikey")

    @admin.action(permissions=["revoke"], description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = [api_key_revoke(api_key=api_key) for api_key in queryset.filter(revoked_at__isnull=True)]
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", len(revoked)) % {"count": len(revoked)},
            messages.SUCCESS,
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """Issue a key: the form calls ``api_key_create``; the raw key is shown on the response, once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(request.POST or None, initial={"partner": request.GET.get("partner")})
        if request.method == "POST" and form.is_valid():
            try:
                api_key, raw_key = api_key_create(created_by=request.user, **form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                self.log_addition(request, api_key, gettext("Issued the key."))
                return self._render(request, "admin/loyalty/apikey/created.html", api_key, raw_key=raw_key)
        return self._render(request, "admin/members/action_form.html", None, form=form)

    def _render(self, request: HttpRequest, template: str, api_key: ApiKey | None, **context):
        changelist = reverse("admin:loyalty_apikey_changelist", current_app=self.admin_site.name)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Issue an API key"),
            "opts": self.opts,
            "object": api_key,
            "cancel_url": changelist,
            "changelist_url": changelist,
            "submit_label": gettext("Issue the key"),
            **context,
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, template, context)
        response["Cache-Control"] = "no-store"
        return response


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    ordering = ["number"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "partner", "event_type", "status", "attempts", "last_status_code", "delivered_at"]
    list_filter = ["status", "event_type", "partner"]
    list_select_related = ["partner"]
    search_fields = ["=event_id"]
    search_help_text = _("The event id, exactly.")
    ordering = ["-id"]
    fields = [
        "partner",
        "event_id",
        "event_type",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "payload_json",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    @admin.display(description=_("payload"))
    def payload_json(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", delivery_body(delivery))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loyalty.change_webhookdelivery")

    @admin.action(permissions=["resend"], description=_("Resend the selected deliveries"))
    def resend(self, request: HttpRequest, queryset) -> None:
        for delivery in queryset:
            webhook_delivery_resend(delivery=delivery)
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )
