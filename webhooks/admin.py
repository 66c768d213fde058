"""Admin for outgoing webhooks: endpoints (secret shown once, rotation, disabled notice) and the
delivery log with each attempt's answer, and a resend. Admins only: the `webhooks` model
permissions (chatplatform/access/roles.py gives them to the admin role)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services.delivery import deliveries_resend
from webhooks.services.endpoints import (
    endpoint_enable,
    endpoint_secret_issue,
    endpoint_secret_masked,
    endpoint_secret_rotate,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _secret_message(request: HttpRequest, label: StrOrPromise, secret: str) -> None:
    messages.warning(
        request,
        format_html(
            "{} <code>{}</code>",
            _("%(label)s (shown once, stored encrypted):") % {"label": label},
            secret,
        ),
    )


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: every event type."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("bot", "url", "description", "event_types", "enabled")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "bot", "events", "enabled", "state", "consecutive_failures", "delivery_log")
    list_filter = ("enabled", "bot")
    search_fields = ("url", "description")
    readonly_fields = ("secret", "consecutive_failures", "disabled_at", "disabled_reason", "delivery_log", "created_at")
    fields = (
        "bot",
        "url",
        "description",
        "event_types",
        "enabled",
        "secret",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "delivery_log",
        "created_at",
    )
    actions = ["rotate_secret"]

    @admin.display(description=_("Events"))
    def events(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or str(_("all"))

    @admin.display(description=_("State"))
    def state(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.enabled:
            return str(_("delivering"))
        return str(endpoint.disabled_reason or _("disabled by an admin"))

    @admin.display(description=_("Signing secret"))
    def secret(self, endpoint: WebhookEndpoint) -> str:
        return endpoint_secret_masked(endpoint) if endpoint.pk else str(_("Issued when you save."))

    @admin.display(description=_("Delivery log"))
    def delivery_log(self, endpoint: WebhookEndpoint) -> str:
        if not endpoint.pk:
            return ""
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Deliveries to this endpoint"))

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        secret = None if change else endpoint_secret_issue(obj)
        re_enabled = change and "enabled" in form.changed_data and obj.enabled
        super().save_model(request, obj, form, change)
        if re_enabled:
            endpoint_enable(endpoint_id=obj.pk)
        if secret:
            _secret_message(request, _("Signing secret of the new endpoint"), secret)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        endpoint = self.get_object(request, object_id)
        if endpoint is not None and not endpoint.enabled and endpoint.disabled_reason and request.method == "GET":
            messages.error(
                request,
                _("This endpoint is disabled: %(reason)s Tick 'enabled' and save to resume its deliveries.")
                % {"reason": endpoint.disabled_reason},
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Rotate the signing secret (the old one signs for a day more)"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        if not self.has_change_permission(request):
            messages.error(request, _("You may not change endpoints."))
            return
        for endpoint in queryset:
            secret = endpoint_secret_rotate(endpoint_id=endpoint.pk)
            _secret_message(request, _("New signing secret of %(url)s") % {"url": endpoint.url}, secret)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "attempted_at", "succeeded", "status_code", "error", "response_excerpt", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("status", "event__type", "endpoint")
    list_select_related = ("event", "endpoint")
    search_fields = ("event__id",)
    readonly_fields = (
        "event",
        "endpoint",
        "conversation_id",
        "status",
        "attempts",
        "retry_from",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "last_response_excerpt",
        "delivered_at",
        "created_at",
        "body",
    )
    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    show_full_result_count = False

    @admin.display(description=_("Event"), ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description=_("Body (signed as is)"))
    def body(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", delivery.event.body)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Resend (a new attempt with the same webhook-id)"))
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        if not self.has_change_permission(request):
            messages.error(request, _("You may not resend deliveries."))
            return
        count = deliveries_resend(delivery_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, _("%(count)d deliveries queued again.") % {"count": count})
