"""HTTP actions in the admin: configured per bot, checked on save, secrets shown once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from actions.models import HttpAction

from .selectors import action_headers
from .services.configuration import action_saved, action_signing_secret_rotate
from .validation import (
    body_template_check,
    headers_check,
    parameters_schema_check,
    response_mapping_check,
    step_up_sender_check,
    url_check,
)


class HttpActionForm(forms.ModelForm):
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_(
            'JSON object, e.g. {"Authorization": "Bearer ..."}. Stored encrypted and never shown again: '
            "leave empty to keep the current headers, enter {} to remove them."
        ),
    )

    class Meta:
        model = HttpAction
        fields = (
            "bot",
            "name",
            "description",
            "method",
            "url",
            "headers",
            "body_template",
            "parameters_schema",
            "required_identity",
            "timeout_seconds",
            "retries",
            "response_mapping",
            "reply_template",
            "not_found_text",
            "failure_text",
            "rate_limit_per_minute",
            "max_calls_per_conversation",
            "offered_to_llm",
            "sends_step_up_code",
            "is_active",
        )

    def clean_headers(self) -> dict[str, str] | None:
        raw = (self.cleaned_data.get("headers") or "").strip()
        if not raw:
            return None
        try:
            return headers_check(json.loads(raw))
        except json.JSONDecodeError as error:
            raise forms.ValidationError(_("Not JSON: %(error)s") % {"error": error.msg}) from error
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_body_template(self) -> str:
        body = cast(str, self.cleaned_data.get("body_template") or "")
        _checked(body_template_check, body)
        return body

    def clean_parameters_schema(self) -> dict[str, Any]:
        schema = self.cleaned_data.get("parameters_schema") or {}
        _checked(parameters_schema_check, schema)
        return cast("dict[str, Any]", schema)

    def clean_response_mapping(self) -> dict[str, str]:
        return cast("dict[str, str]", _checked(response_mapping_check, self.cleaned_data.get("response_mapping") or {}))

    def clean(self) -> dict[str, Any]:
        cleaned = cast("dict[str, Any]", super().clean())
        bot = cleaned.get("bot")
        if bot is not None:
            try:
                url_check(cleaned.get("url") or "", allowed_hosts=bot.action_allowed_hosts)
            except ValueError as error:
                self.add_error("url", str(error))
        try:
            step_up_sender_check(
                sends_step_up_code=bool(cleaned.get("sends_step_up_code")),
                url=cleaned.get("url") or "",
                body_template=cleaned.get("body_template") or "",
                required_identity=cleaned.get("required_identity") or HttpAction.Identity.ANONYMOUS,
                offered_to_llm=bool(cleaned.get("offered_to_llm")),
            )
        except ValueError as error:
            self.add_error("sends_step_up_code", str(error))
        return cleaned


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except ValueError as error:
        raise forms.ValidationError(str(error)) from error


@admin.register(HttpAction)
class HttpActionAdmin(admin.ModelAdmin):
    form = HttpActionForm
    list_display = (
        "name",
        "bot",
        "method",
        "url",
        "required_identity",
        "offered_to_llm",
        "sends_step_up_code",
        "is_active",
        "updated_at",
    )
    list_filter = ("bot", "is_active", "required_identity", "method")
    search_fields = ("name", "url", "description")
    readonly_fields = ("stored_headers", "signing")
    actions = ("rotate_signing_secret",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[HttpAction]:
        return super().get_queryset(request).select_related("bot")

    @admin.display(description=_("stored headers"))
    def stored_headers(self, obj: HttpAction) -> str:
        names = sorted(action_headers(obj))
        return ", ".join(f"{name}: ••••••••" for name in names) or str(_("none"))

    @admin.display(description=_("request signing"))
    def signing(self, obj: HttpAction) -> str:
        if obj.signing_secret_encrypted:
            return str(_("Signed (Standard Webhooks). The secret was shown once; rotate it to see a new one."))
        return str(_("Not signed yet: save to create a secret."))

    def save_model(self, request: HttpRequest, obj: HttpAction, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        secret = action_saved(action=obj, headers=form.cleaned_data.get("headers"))
        if secret is not None:
            self._show_secret(request, obj, secret)

    @admin.action(description=_("Rotate the signing secret (the new one is shown once)"))
    def rotate_signing_secret(self, request: HttpRequest, queryset: QuerySet[HttpAction]) -> None:
        for action in queryset:
            self._show_secret(request, action, action_signing_secret_rotate(action=action))

    def _show_secret(self, request: HttpRequest, action: HttpAction, secret: str) -> None:
        messages.warning(
            request,
            format_html(
                cast(str, _("Signing secret of {} (shown once, give it to the receiving server): {}")),
                action.name,
                format_html("<code>{}</code>", secret),
            ),
        )
