from __future__ import annotations

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from bots.models import Intent


class TagForm(forms.Form):
    name = forms.CharField(label=_("Tag"), max_length=60)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    message = forms.IntegerField(required=False, widget=forms.HiddenInput)


class SuggestionForm(forms.Form):
    intent = forms.ModelChoiceField(
        queryset=Intent.objects.none(), required=False, label=_("Intent"), empty_label=_("— new intent —")
    )
    new_intent_name = forms.CharField(required=False, max_length=120, label=_("New intent name"))
    text = forms.CharField(
        required=False,
        max_length=1000,
        label=_("Training phrase"),
        help_text=_("Defaults to the visitor's text; edit out personal data."),
    )

    def __init__(self, *args, bot_id: int, intent_choices: list[tuple[int, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        intent_field = cast(forms.ModelChoiceField, self.fields["intent"])
        intent_field.queryset = Intent.objects.filter(bot_id=bot_id).order_by("name")
        if intent_choices is not None:
            # Many forms on one page (one per message / cluster): render from a list loaded once per bot
            # instead of one query per form. Validation (POST) still uses the queryset above.
            intent_field.choices = [("", intent_field.empty_label), *intent_choices]
