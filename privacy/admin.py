"""Privacy in the admin: an erasure is requested by adding a receipt (the form names the visitor,
the receipt keeps only a digest); receipts and retention runs are read-only proof."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from privacy.models import ErasureReceipt, RetentionRun

from .services.erasure import subject_erase


class ErasureRequestForm(forms.ModelForm):
    subject_id = forms.CharField(
        max_length=200, label=_("Visitor or customer id"), help_text=_("Erased now; the receipt keeps only a digest.")
    )

    class Meta:
        model = ErasureReceipt
        fields = ("bot", "subject_kind")


@admin.register(ErasureReceipt)
class ErasureReceiptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "bot", "subject_kind", "subject_digest", "deleted", "requested_by", "via")
    list_filter = ("bot", "subject_kind", "via")
    search_fields = ("subject_digest",)
    readonly_fields = ("bot", "subject_kind", "subject_digest", "deleted", "requested_by", "via", "created_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ErasureRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # proof is never edited

    def save_model(self, request: HttpRequest, obj: ErasureReceipt, form: Any, change: bool) -> None:
        receipt = subject_erase(
            bot=form.cleaned_data["bot"],
            kind=form.cleaned_data["subject_kind"],
            subject_id=form.cleaned_data["subject_id"],
            requested_by=request.user,
            via=ErasureReceipt.Via.ADMIN,
        )
        obj.pk = receipt.pk  # the admin's redirect and message name the stored receipt
        messages.info(request, _("Erased: %(deleted)s") % {"deleted": receipt.deleted})


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "bot", "keep_days", "cutoff", "dry_run", "deleted")
    list_filter = ("bot", "dry_run")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
