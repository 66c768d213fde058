"""Pages of the analyst workspace. Thin: filters + selectors for reads, services for writes."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from analytics import charts, selectors, services
from analytics.caching import cached
from analytics.exports import EXPORT_KINDS, export_response
from analytics.filters import filter_period, filtered_conversations
from analytics.forms import NoteForm, SuggestionForm, TagForm
from analytics.invisible import reveal_invisible
from analytics.metrics import DEFINITIONS, metrics_cached
from analytics.models import IntentSuggestion
from analytics.pii import mask_pii, mask_value, should_mask
from audit.models import AuditEntry
from audit.services import audit_record_request, query_params
from bots.models import Conversation, Message
from conversations.services.messages import text_scrub


def _perm(perm: str):
    """Anonymous -> login page; signed in without the permission -> 403."""

    def decorator(view):
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorator


def _querystring(request: HttpRequest, *, drop: tuple[str, ...] = ("after",)) -> str:
    params = request.GET.copy()
    for key in drop:
        params.pop(key, None)
    return params.urlencode()


def _filter_suggestions(request: HttpRequest) -> dict[str, list[str]]:
    """The autocomplete lists of the filter form (_filters.html): the visible bots' intents and tags."""
    return {
        "intent_names": selectors.intent_names_seen(conversations=selectors.conversations_visible_to(request.user)),
        "tag_names": selectors.tag_names(user=request.user),
    }


def _masker(request: HttpRequest):
    return mask_pii if should_mask(request.user, requested=False) else (lambda s: s)


@require_GET
@_perm("analytics.view_transcripts")
def conversation_list(request: HttpRequest) -> HttpResponse:
    filterset, qs = filtered_conversations(request=request)
    sort = (filterset.form.cleaned_data.get("sort") if filterset.form.is_valid() else None) or selectors.DEFAULT_SORT
    page = selectors.conversation_page(qs=qs, sort=sort, after=request.GET.get("after"))
    mask = _masker(request)
    for c in cast("list[selectors.ListedConversation]", page.items):
        c.preview = mask(c.first_user_text)[:140]
    return render(
        request,
        "analytics/conversation_list.html",
        {
            "filter": filterset,
            "page": page,
            "querystring": _querystring(request),
            "export_querystring": _querystring(request, drop=("after", "sort")),
            **_filter_suggestions(request),
            "can_export": request.user.has_perm("analytics.export_transcripts"),
            "export_kinds": EXPORT_KINDS,
            "masked": should_mask(request.user, requested=False),
        },
    )


def _intent_choices(bot_id: int) -> list[tuple[int, str]]:
    # Labels are shown, values (pks) are posted: only the labels get their controls revealed.
    return [
        (pk, reveal_invisible(name)) for pk, name in selectors.intents_of_bot(bot_id=bot_id).values_list("pk", "name")
    ]


def _transcript_or_404(request: HttpRequest, conversation_id: int) -> selectors.Transcript:
    try:
        return selectors.transcript_get(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404(_("No such conversation.")) from None


@require_GET
@_perm("analytics.view_transcripts")
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    transcript = _transcript_or_404(request, conversation_id)
    mask = _masker(request)
    masked = should_mask(request.user, requested=False)
    if not masked:
        audit_record_request(
            request,
            action=AuditEntry.Action.PII_VIEW,
            target=f"conversation {conversation_id}",
            summary=_("Opened the transcript unmasked"),
            bot_slug=transcript.conversation.bot.slug,
        )
    bot_id = transcript.conversation.bot_id
    intent_choices = _intent_choices(bot_id)
    for m in cast("list[selectors.TranscriptMessage]", transcript.messages):
        m.display_text = mask(m.text)
        m.display_entities = mask_value(m.entities) if masked else m.entities
        m.display_feedback_comment = mask(m.feedback_comment)
        m.suggestion = transcript.suggestions.get(m.pk)
        if m.role == Message.Role.USER:
            m.suggestion_form = SuggestionForm(
                bot_id=bot_id,
                prefix=f"m{m.pk}",
                intent_choices=intent_choices,
                initial={"text": text_scrub(m.display_text)},
            )
            reply = m.reply_message
            m.turn_intent = m.intent or (reply.intent if reply else "")
            m.turn_confidence = m.confidence if m.intent else (reply.confidence if reply else None)
    for e in cast("list[selectors.TranscriptEvent]", transcript.events):
        e.display_reason = mask(e.reason)
    for n in cast("list[selectors.TranscriptAgentNote]", transcript.agent_notes):
        n.display_text = mask(n.text)
    return render(
        request,
        "analytics/conversation_detail.html",
        {
            "t": transcript,
            "conversation": transcript.conversation,
            "user_id_display": mask(transcript.conversation.user_id),
            "assigned_agent_name": selectors.person_name(transcript.conversation.assigned_agent),
            "tag_form": TagForm(),
            "note_form": NoteForm(),
            "can_annotate": request.user.has_perm("analytics.annotate_transcripts"),
            "can_suggest": request.user.has_perm("analytics.suggest_intents"),
            "masked": masked,
        },
    )


def _back(conversation_id: int, anchor: str = "") -> HttpResponse:
    return redirect(reverse("analytics:conversation_detail", args=[conversation_id]) + anchor)


@require_POST
@_perm("analytics.annotate_transcripts")
def conversation_tag(request: HttpRequest, conversation_id: int) -> HttpResponse:
    transcript = _transcript_or_404(request, conversation_id)
    form = TagForm(request.POST)
    action = request.POST.get("action", "add")
    if form.is_valid():
        try:
            if action == "remove":
                services.conversation_tag_remove(conversation=transcript.conversation, name=form.cleaned_data["name"])
            else:
                services.conversation_tag_add(
                    conversation=transcript.conversation, name=form.cleaned_data["name"], user=request.user
                )
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
    else:
        flash.error(request, _("Invalid tag."))
    return _back(conversation_id)


def _message_or_404(request: HttpRequest, conversation_id: int, message_id: int) -> Message:
    try:
        return selectors.message_get(user=request.user, message_id=message_id, conversation_id=conversation_id)
    except Message.DoesNotExist:
        raise Http404(_("No such message.")) from None


@require_POST
@_perm("analytics.annotate_transcripts")
def message_tag(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    message = _message_or_404(request, conversation_id, message_id)
    form = TagForm(request.POST)
    if form.is_valid():
        try:
            if request.POST.get("action") == "remove":
                services.message_tag_remove(message=message, name=form.cleaned_data["name"])
            else:
                services.message_tag_add(message=message, name=form.cleaned_data["name"], user=request.user)
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
    return _back(conversation_id, f"#m{message_id}")


@require_POST
@_perm("analytics.annotate_transcripts")
def note_add(request: HttpRequest, conversation_id: int) -> HttpResponse:
    transcript = _transcript_or_404(request, conversation_id)
    form = NoteForm(request.POST)
    anchor = ""
    if form.is_valid():
        message = None
        if form.cleaned_data.get("message"):
            message = _message_or_404(request, conversation_id, form.cleaned_data["message"])
            anchor = f"#m{message.pk}"
        try:
            services.note_create(
                conversation=transcript.conversation,
                message=message,
                author=request.user,
                text=form.cleaned_data["text"],
            )
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
    else:
        flash.error(request, _("A note cannot be empty."))
    return _back(conversation_id, anchor)


@require_POST
@_perm("analytics.suggest_intents")
def suggestion_create(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    message = _message_or_404(request, conversation_id, message_id)
    form = SuggestionForm(request.POST, bot_id=message.conversation.bot_id, prefix=f"m{message.pk}")
    if form.is_valid():
        try:
            services.intent_suggestion_create(
                message=message,
                user=request.user,
                intent=form.cleaned_data["intent"],
                new_intent_name=form.cleaned_data["new_intent_name"],
                text=form.cleaned_data["text"] or None,
            )
            flash.success(request, _("Suggestion sent for review."))
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
    else:
        flash.error(request, _("Pick an intent or name a new one."))
    return redirect(
        cast(str, request.POST.get("next"))  # _safe_next: present
        if _safe_next(request)
        else reverse("analytics:conversation_detail", args=[conversation_id]) + f"#m{message_id}"
    )


def _safe_next(request: HttpRequest) -> bool:
    from django.utils.http import url_has_allowed_host_and_scheme

    nxt = request.POST.get("next")
    return bool(nxt) and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})


@require_GET
@_perm("analytics.view_transcripts")
def unrecognised_queue(request: HttpRequest) -> HttpResponse:
    filterset, qs = filtered_conversations(request=request)
    clusters = cached("unrecognised", qs, lambda: selectors.unrecognised_clusters(conversations=qs))
    mask = _masker(request)
    bots = {b.pk: b for b in selectors.bots_visible_to(request.user)}
    can_suggest = request.user.has_perm("analytics.suggest_intents")
    choices_by_bot: dict[int, list[tuple[int, str]]] = {}
    options_by_bot: dict[int, str] = {}
    for c in clusters:
        c.display = mask(c.example.text if c.example else c.representative)
        c.bot = bots.get(c.bot_id)
        c.display_variants = [(mask(v), n) for v, n in c.variants[:5]]
        if c.example is not None and can_suggest:
            if c.bot_id not in choices_by_bot:
                choices_by_bot[c.bot_id] = _intent_choices(c.bot_id)
                options_by_bot[c.bot_id] = format_html_join(
                    "", '<option value="{}">{}</option>', choices_by_bot[c.bot_id]
                )
            c.intent_options = options_by_bot[c.bot_id]
            c.suggestion_form = SuggestionForm(
                bot_id=c.bot_id,
                prefix=f"m{c.example.pk}",
                intent_choices=choices_by_bot[c.bot_id],
                initial={"text": text_scrub(c.display)},
            )
    return render(
        request,
        "analytics/unrecognised.html",
        {
            "filter": filterset,
            "clusters": clusters,
            "querystring": _querystring(request),
            **_filter_suggestions(request),
        },
    )


@require_GET
@_perm("analytics.review_suggestions")
def suggestion_review(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or IntentSuggestion.Status.PENDING
    if status not in IntentSuggestion.Status.values:
        status = IntentSuggestion.Status.PENDING
    suggestions = list(selectors.suggestions_visible_to(request.user, status=status)[:200])
    mask = _masker(request)
    for s in suggestions:
        s.display_text = mask(s.text)
    return render(
        request,
        "analytics/suggestions.html",
        {
            "suggestions": suggestions,
            "status": status,
            "statuses": IntentSuggestion.Status.choices,
        },
    )


@require_POST
@_perm("analytics.review_suggestions")
def suggestion_decide(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    if not selectors.suggestions_visible_to(request.user, status=None).filter(pk=suggestion_id).exists():
        raise Http404
    try:
        if request.POST.get("decision") == "accept":
            services.intent_suggestion_accept(suggestion_id=suggestion_id, user=request.user)
            flash.success(request, _("Accepted: the phrase was added and the bot will retrain."))
        else:
            services.intent_suggestion_reject(suggestion_id=suggestion_id, user=request.user)
            flash.info(request, _("Rejected."))
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    return redirect("analytics:suggestion_review")


@require_GET
@_perm("analytics.view_metrics")
def metrics_dashboard(request: HttpRequest) -> HttpResponse:
    filterset, qs = filtered_conversations(request=request)
    since, until = filter_period(filterset)
    m = metrics_cached(conversations=qs, since=since, until=until)
    labels = [d.day.strftime("%m-%d") for d in m.per_day]
    mask = _masker(request)
    context: dict[str, Any] = {
        "filter": filterset,
        "m": m,
        "d": DEFINITIONS,
        "querystring": _querystring(request),
        **_filter_suggestions(request),
        "conversations_chart": charts.bar_chart(
            labels=labels, values=[d.conversations for d in m.per_day], title=_("Conversations per day")
        ),
        "messages_chart": charts.bar_chart(
            labels=labels, values=[d.messages for d in m.per_day], title=_("Messages per day"), color="var(--accent-2)"
        ),
        "outcome_chart": charts.stacked_bar(
            parts=[
                (_("Contained"), m.outcomes["contained"], "var(--ok)"),
                (_("Fallback"), m.outcomes["fallback"], "var(--warn)"),
                (_("Handoff offered"), m.outcomes["handoff"], "var(--bad)"),
            ],
            title=_("Outcomes of engaged conversations"),
        ),
        "csat_chart": charts.bar_chart(
            labels=[str(k) for k in m.csat_distribution],
            values=list(m.csat_distribution.values()),
            title=_("CSAT distribution"),
            width=320,
            height=140,
        ),
        "top_unrecognised": [{**row, "text": mask(row["text"])} for row in m.top_unrecognised],
    }
    return render(request, "analytics/metrics.html", context)


@require_GET
@_perm("analytics.export_transcripts")
def export(request: HttpRequest, kind: str) -> HttpResponseBase:
    if kind not in EXPORT_KINDS:
        raise Http404
    _filterset, qs = filtered_conversations(request=request)
    mask = should_mask(request.user, requested=request.GET.get("mask", "1") != "0")
    audit_record_request(
        request,
        action=AuditEntry.Action.EXPORT,
        target=f"export {kind}",
        summary=_("Exported %(kind)s (%(masked)s)") % {"kind": kind, "masked": "masked" if mask else "UNMASKED"},
        bot_slug=request.GET.get("bot", "")[:100],
        details={"kind": kind, "masked": mask, "filters": query_params(request), "via": "workspace"},
    )
    return export_response(kind=kind, conversations=qs, mask=mask)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("analytics:conversation_list")
