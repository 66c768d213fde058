"""The Django admin for bot configuration and raw transcripts (analysts get their own workspace)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.urls import URLPattern
    from django_stubs_ext import StrOrPromise

from bots.models import (
    AgentProfile,
    AgentTeam,
    ApiKey,
    Bot,
    Conversation,
    ConversationEvent,
    EntityType,
    EntityValue,
    FormSlot,
    Intent,
    KnowledgeChunk,
    KnowledgeDocument,
    Message,
    NluModel,
    OfflineTicket,
    ResponseTemplate,
    TrainingPhrase,
)
from bots.services.api_keys import api_key_issue
from engine.business_hours import business_hours_errors
from knowledge.ingestion.types import DocumentRejected
from knowledge.services.changes import knowledge_changed
from knowledge.services.documents import document_upload
from nlu.services.scheduling import nlu_training_data_changed


class RetrainsOnSaveMixin:
    """Saving or deleting NLU data in the admin bumps the bot's data version and retrains it."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        nlu_training_data_changed(bot_id=form.instance.bot_id)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        bot_id = obj.bot_id
        super().delete_model(request, obj)  # type: ignore[misc]
        nlu_training_data_changed(bot_id=bot_id)


class IntentInline(admin.TabularInline):
    model = Intent
    fields = ("name", "response_mode", "hands_off", "description")
    extra = 0
    show_change_link = True


class BotAdminForm(forms.ModelForm):
    class Meta:
        model = Bot
        fields = "__all__"

    def clean_business_hours(self) -> Any:
        hours = self.cleaned_data.get("business_hours")
        errors = business_hours_errors(hours)
        if errors:
            raise forms.ValidationError(errors)
        return hours or {}


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotAdminForm
    list_display = ("name", "slug", "is_active", "intent_count", "nlu_threshold", "llm_temperature", "updated_at")
    list_filter = ("is_active", "language")
    search_fields = ("name", "slug", "public_key")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = (
        "public_key",
        "embed_snippet",
        "secret",
        "nlu_data_version",
        "created_at",
        "updated_at",
        "test_console",
    )
    inlines = [IntentInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_active", "test_console")}),
        (_("Persona and replies"), {"fields": ("persona", "greeting", "fallback_text", "handoff_text")}),
        (
            _("Understanding"),
            {"fields": ("nlu_threshold", "fallbacks_before_handoff", "generate_when_out_of_scope", "nlu_data_version")},
        ),
        (_("LLM"), {"fields": ("llm_model", "llm_temperature", "llm_max_tokens")}),
        (
            _("Answers from the knowledge base"),
            {
                "fields": (
                    "answer_without_knowledge",
                    "no_answer_text",
                    "knowledge_top_k",
                    "knowledge_min_similarity",
                    "faq_min_similarity",
                    "knowledge_vector_weight",
                    "knowledge_full_text_weight",
                ),
                "description": _("How the bot answers questions no intent covers; see docs/knowledge.md."),
            },
        ),
        (
            _("Actions"),
            {
                "fields": ("action_allowed_hosts",),
                "description": _("The hosts this bot's HTTP actions may call; see docs/actions.md."),
            },
        ),
        (
            _("Widget and embedding"),
            {
                "fields": (
                    "allowed_origins",
                    "embed_snippet",
                    "public_key",
                    "widget_title",
                    "widget_color",
                    "widget_position",
                    "avatar_url",
                    "language",
                )
            },
        ),
        (
            _("Handoff to people"),
            {
                "fields": ("handoff_thumbs_down_streak", "handoff_csat_at_most", "business_hours"),
                "description": _(
                    "A person is only offered while a member of one of the bot's agent teams is on duty "
                    "inside the business hours; otherwise visitors get the offline form."
                ),
            },
        ),
        (_("Identity verification"), {"fields": ("require_identity_verification", "secret"), "classes": ("collapse",)}),
        (_("Privacy"), {"fields": ("retention_days",)}),
        (_("Timestamps"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bot]:
        return super().get_queryset(request).annotate(_intent_count=Count("intents"))

    @admin.display(description=_("Intents"), ordering="_intent_count")
    def intent_count(self, bot: Bot) -> int:
        return getattr(bot, "_intent_count", 0)

    @admin.display(description=_("Test console"))
    def test_console(self, bot: Bot) -> StrOrPromise:
        if not bot.pk:
            return _("Save the bot first.")
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:bots_bot_console", args=[bot.pk]),
            _("Chat with this bot (shows intent, confidence, entities and action per turn)"),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<int:bot_id>/console/", self.admin_site.admin_view(self.console_view), name="bots_bot_console"),
            *super().get_urls(),
        ]

    def console_view(self, request: HttpRequest, bot_id: int) -> TemplateResponse:
        bot = get_object_or_404(Bot, pk=bot_id)
        if not self.has_change_permission(request, bot):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "bot": bot,
            "opts": self.model._meta,
            "title": _("Test console: %(name)s") % {"name": bot.name},
        }
        return TemplateResponse(request, "admin/bots/bot/console.html", context)

    @admin.display(description=_("Embed snippet"))
    def embed_snippet(self, bot: Bot) -> str:
        from django.conf import settings

        return format_html(
            '<code>&lt;script src="{}/static/widget/chatplatform.js" data-bot="{}" async&gt;&lt;/script&gt;</code>',
            settings.PUBLIC_BASE_URL,
            bot.public_key,
        )


class TrainingPhraseInline(admin.TabularInline):
    model = TrainingPhrase
    fields = ("text",)
    extra = 3


class ResponseTemplateInline(admin.TabularInline):
    model = ResponseTemplate
    fields = ("text", "quick_replies", "position")
    extra = 1


class FormSlotInline(admin.TabularInline):
    model = FormSlot
    fields = ("name", "entity", "prompt", "position")
    extra = 0


@admin.register(Intent)
class IntentAdmin(RetrainsOnSaveMixin, admin.ModelAdmin):
    list_display = ("name", "bot", "response_mode", "hands_off", "action", "phrase_count")
    list_filter = ("bot", "response_mode", "hands_off")
    autocomplete_fields = ("action",)
    search_fields = ("name", "description", "training_phrases__text")
    list_select_related = ("bot",)
    inlines = [TrainingPhraseInline, ResponseTemplateInline, FormSlotInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intent]:
        return super().get_queryset(request).annotate(_phrases=Count("training_phrases"))

    @admin.display(description=_("Training phrases"), ordering="_phrases")
    def phrase_count(self, intent: Intent) -> int:
        return getattr(intent, "_phrases", 0)


class EntityValueInline(admin.TabularInline):
    model = EntityValue
    fields = ("value", "synonyms")
    extra = 1


@admin.register(EntityType)
class EntityTypeAdmin(RetrainsOnSaveMixin, admin.ModelAdmin):
    list_display = ("name", "bot", "kind", "pattern")
    list_filter = ("bot", "kind")
    search_fields = ("name", "pattern", "values__value")
    inlines = [EntityValueInline]


class KnowledgeDocumentUploadForm(forms.ModelForm):
    """Adding a document is uploading a file; the worker parses, chunks and embeds it."""

    upload = forms.FileField(
        label=_("File"),
        help_text=_(
            "Markdown, text, HTML, PDF, DOCX, JSONL of documents, CSV of FAQ pairs (question,answer), or a ZIP "
            "of them. The same file name again re-syncs the document."
        ),
    )

    class Meta:
        model = KnowledgeDocument
        fields = ["bot"]


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    """The customer's documents and where each one is: queued, parsing, embedding, ready, or failed (why)."""

    list_display = ("__str__", "bot", "kind", "status", "chunk_count", "error", "updated_at")
    list_filter = ("bot", "status", "kind")
    search_fields = ("title", "filename", "external_id")
    readonly_fields = (
        "kind",
        "filename",
        "external_id",
        "title",
        "url",
        "status",
        "error",
        "chunk_count",
        "collection",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[KnowledgeDocument]:
        return super().get_queryset(request).defer("source", "text")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = KnowledgeDocumentUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["bot", "upload"]
        return ["bot", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("bot", *self.readonly_fields) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: KnowledgeDocument, form: Any, change: bool) -> None:
        if change:
            return  # a stored document only changes by uploading its file again
        upload = form.cleaned_data["upload"]
        try:
            stored = document_upload(bot=form.cleaned_data["bot"], filename=upload.name, data=upload.read())
        except DocumentRejected as exc:
            self.message_user(request, exc.reason, level=messages.ERROR)
            return
        obj.pk = stored.pk  # the change page that follows is the stored document's

    def response_add(self, request: HttpRequest, obj: KnowledgeDocument, post_url_continue: Any = None) -> Any:
        if obj.pk is None:  # refused: back to the form, with the reason shown above it
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)


@admin.register(KnowledgeChunk)
class KnowledgeChunkAdmin(admin.ModelAdmin):
    list_display = ("title", "bot", "document", "source_url", "embedded", "created_at")
    list_filter = ("bot",)
    search_fields = ("title", "text")
    readonly_fields = ("document", "heading_path", "char_start", "char_end")

    @admin.display(description=_("Searchable"), boolean=True)
    def embedded(self, chunk: KnowledgeChunk) -> bool:
        return chunk.embedding is not None

    def save_model(self, request: HttpRequest, obj: KnowledgeChunk, form: Any, change: bool) -> None:
        if change and {"title", "text"} & set(form.changed_data):
            obj.embedding = None  # re-embedded by the worker
        super().save_model(request, obj, form, change)
        knowledge_changed(bot_id=obj.bot_id)


@admin.register(NluModel)
class NluModelAdmin(admin.ModelAdmin):
    list_display = ("bot", "data_version", "strategy", "trained_at", "metrics")
    list_filter = ("bot", "strategy")
    readonly_fields = ("bot", "data_version", "strategy", "metrics", "trained_at")
    exclude = ("artifact",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = (
        "seq",
        "role",
        "text",
        "intent",
        "confidence",
        "action",
        "time_to_first_token_ms",
        "total_time_ms",
        "feedback",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("seq",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ConversationEventInline(admin.TabularInline):
    """Who had the conversation when, and why (read-only: events are written by the handoff service)."""

    model = ConversationEvent
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "agent", "team", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentTeam)
class AgentTeamAdmin(admin.ModelAdmin):
    list_display = ("name", "routing", "capacity_per_agent", "sla_seconds", "priority")
    filter_horizontal = ("bots", "members")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "presence", "capacity", "last_seen_at")
    list_filter = ("presence",)
    search_fields = ("user__username", "display_name")
    readonly_fields = ("last_seen_at", "last_assigned_at")


@admin.register(OfflineTicket)
class OfflineTicketAdmin(admin.ModelAdmin):
    """Messages visitors left when nobody could come: answer them by e-mail, then mark them done."""

    list_display = ("created_at", "bot", "name", "email", "short_message", "status")
    list_filter = ("status", "bot")
    search_fields = ("email", "name", "message")
    readonly_fields = ("bot", "conversation", "visitor_id", "client_id", "name", "email", "message", "created_at")
    fields = (*readonly_fields, "status")
    list_editable = ("status",)

    @admin.display(description=_("Message"))
    def short_message(self, ticket: OfflineTicket) -> str:
        return ticket.message[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "bot", "channel", "status", "started_at", "last_activity_at", "csat")
    list_filter = ("bot", "channel", "status", "started_at")
    search_fields = ("visitor_id", "user_id", "messages__text")
    list_select_related = ("bot",)
    readonly_fields = (
        "bot",
        "visitor_id",
        "user_id",
        "channel",
        "tracker",
        "started_at",
        "last_activity_at",
        "ended_at",
        "csat",
        "locale",
    )
    inlines = [ConversationEventInline, MessageInline]
    date_hierarchy = "started_at"
    show_full_result_count = False  # counting 100k+ rows on every page view is slow


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name", "is_active", "all_bots", "bots")

    def clean(self) -> dict[str, Any]:
        cleaned = cast("dict[str, Any]", super().clean())  # ModelForm.clean returns cleaned_data
        # Same rule as api_key_create: a scope or the explicit flag, never both, never neither (an
        # empty scope reaches no bot; it used to mean every bot, issue #9).
        if bool(cleaned.get("bots")) == bool(cleaned.get("all_bots")):
            raise forms.ValidationError(_("Choose the bots this key may use, or tick 'all bots' (not both)."))
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scope", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active", "all_bots")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    filter_horizontal = ("bots",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return super().get_queryset(request).prefetch_related("bots")

    @admin.display(description=_("bots"))
    def scope(self, obj: ApiKey) -> str:
        if obj.all_bots:
            return str(_("all bots"))
        return ", ".join(bot.slug for bot in obj.bots.all()) or str(_("none"))

    def save_model(self, request: HttpRequest, obj: ApiKey, form: object, change: bool) -> None:
        raw_key = None if change else api_key_issue(obj)
        super().save_model(request, obj, form, change)
        if raw_key:
            messages.warning(
                request,
                format_html(
                    cast(str, _("New API key (shown once, stored only as a hash): {}")),
                    format_html("<code>{}</code>", raw_key),
                ),
            )
