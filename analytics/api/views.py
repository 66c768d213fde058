"""Analyst REST API: conversations, messages, tags, notes, suggestions, metrics, exports.

Scoped by `analytics.selectors.conversations_visible_to`; filtered by the same FilterSet as the
pages; masked by the same `mask_pii`; metrics from the same `metrics_compute`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import selectors, services
from analytics.api.serializers import (
    AgentNoteSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    EventSerializer,
    MessageSerializer,
    MetricsSerializer,
    NoteSerializer,
    SuggestionCreateSerializer,
    SuggestionSerializer,
    TagNameSerializer,
    TagSerializer,
)
from analytics.exports import export_response
from analytics.filters import ConversationFilter, filter_period
from analytics.metrics import DEFINITIONS, metrics_cached
from analytics.models import ConversationTag, IntentSuggestion, MessageTag, Note, Tag
from analytics.pii import mask_pii, should_mask
from audit.models import AuditEntry
from audit.services import audit_record_request, query_params
from bots.models import Conversation, ConversationEvent, Intent, Message
from chatplatform.access.permissions import workspace_permission
from inbox.models import AgentNote

VIEW = "analytics.view_transcripts"
ANNOTATE = "analytics.annotate_transcripts"

MASK_PARAM = OpenApiParameter(
    "mask", OpenApiTypes.BOOL, description="Mask personal data. Always on without the view_pii permission."
)


def _mask_requested(request: Request, *, default: bool) -> bool:
    raw = request.query_params.get("mask")
    if raw is None:
        return default
    return raw.lower() not in ("0", "false", "no")


def _bad_request(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


class ConversationCursorPagination(CursorPagination):
    """Keyset pagination: constant cost however deep the page."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        fld, direction = selectors.SORTS.get(
            request.query_params.get("sort", ""), selectors.SORTS[selectors.DEFAULT_SORT]
        )
        return (f"-{fld}",) if direction == "desc" else (fld,)


class MessagePagination(PageNumberPagination):
    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000


if TYPE_CHECKING:
    _MaskBase = GenericAPIView  # what it is mixed into
else:
    _MaskBase = object


class _MaskMixin(_MaskBase):
    mask_default = False

    def get_serializer_context(self) -> dict[str, Any]:
        context = cast("dict[str, Any]", super().get_serializer_context())  # DRF builds a dict
        context["mask"] = should_mask(
            self.request.user,
            requested=_mask_requested(self.request, default=self.mask_default),
        )
        if not context["mask"] and not getattr(self, "_unmasked_view_recorded", False):
            self._unmasked_view_recorded = True  # one entry per request, however many serializers
            audit_record_request(
                self.request,
                action=AuditEntry.Action.PII_VIEW,
                target=self.request.path,
                summary="API read unmasked",
                details={"filters": query_params(self.request), "via": "api"},
            )
        return context


_tags = Prefetch("analytics_tags", queryset=ConversationTag.objects.select_related("tag"))
_msg_tags = Prefetch("analytics_tags", queryset=MessageTag.objects.select_related("tag"))


def _messages_in_order() -> QuerySet[Message]:
    return Message.objects.order_by("seq").select_related("author__agent_profile").prefetch_related(_msg_tags)


def _events_in_order() -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.order_by("created_at", "id").select_related(
        "actor__agent_profile", "agent__agent_profile", "team"
    )


@extend_schema_view(
    list=extend_schema(summary="List conversations (filters as on the transcript page)", parameters=[MASK_PARAM]),
    retrieve=extend_schema(
        summary="One conversation with every message, note, handoff event and agent note", parameters=[MASK_PARAM]
    ),
)
class ConversationViewSet(_MaskMixin, viewsets.ReadOnlyModelViewSet):
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConversationFilter
    pagination_class = ConversationCursorPagination
    lookup_value_regex = r"\d+"

    def get_permissions(self) -> list[Any]:
        if self.action in ("tag_add", "tag_remove", "message_tag_add", "message_tag_remove") or (
            self.action == "notes" and self.request.method == "POST"
        ):
            return [workspace_permission(VIEW, ANNOTATE)()]
        return [workspace_permission(VIEW)()]

    def get_queryset(self) -> QuerySet[Conversation]:
        qs = (
            selectors.conversations_visible_to(self.request.user)
            .select_related("bot", "assigned_agent__agent_profile", "team")
            .prefetch_related(_tags)
        )
        if self.action == "list":
            return selectors.with_outcome(qs)
        if self.action == "retrieve":
            return selectors.with_outcome(qs).prefetch_related(
                Prefetch("messages", queryset=_messages_in_order()),
                Prefetch("analytics_notes", queryset=Note.objects.select_related("author")),
                Prefetch("events", queryset=_events_in_order()),
                Prefetch(
                    "agent_notes",
                    queryset=AgentNote.objects.order_by("created_at", "id").select_related("author__agent_profile"),
                ),
            )
        return qs

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return ConversationDetailSerializer if self.action == "retrieve" else ConversationSerializer

    def _conversation(self) -> Conversation:
        # Scoped lookup: another bot's conversation is a 404, not a 403.
        try:
            return selectors.conversation_get(user=self.request.user, conversation_id=int(self.kwargs["pk"]))
        except (Conversation.DoesNotExist, ValueError):
            raise Http404 from None

    def _message(self, conversation: Conversation, message_id: str) -> Message:
        try:
            return conversation.messages.get(pk=int(message_id))
        except (Message.DoesNotExist, ValueError, OverflowError):
            raise Http404 from None

    @extend_schema(
        summary="Messages of a conversation, in order", parameters=[MASK_PARAM], responses=MessageSerializer(many=True)
    )
    @action(detail=True, methods=["get"], pagination_class=MessagePagination, filter_backends=[])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        conversation = self._conversation()
        qs = _messages_in_order().filter(conversation=conversation)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(
            MessageSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Handoff events of a conversation (who, when, why), in time order",
        parameters=[MASK_PARAM],
        responses=EventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def events(self, request: Request, pk: str | None = None) -> Response:
        conversation = self._conversation()
        events = _events_in_order().filter(conversation=conversation)
        return Response(EventSerializer(events, many=True, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Private notes agents wrote in the inbox",
        parameters=[MASK_PARAM],
        responses=AgentNoteSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="agent-notes", filter_backends=[], pagination_class=None)
    def agent_notes(self, request: Request, pk: str | None = None) -> Response:
        conversation = self._conversation()
        notes = AgentNote.objects.filter(conversation=conversation).order_by("created_at", "id")
        notes = notes.select_related("author__agent_profile")
        return Response(AgentNoteSerializer(notes, many=True, context=self.get_serializer_context()).data)

    @extend_schema(summary="Tag a conversation", request=TagNameSerializer, responses={201: TagSerializer})
    @action(detail=True, methods=["post"], url_path="tags", filter_backends=[], pagination_class=None)
    def tag_add(self, request: Request, pk: str | None = None) -> Response:
        conversation = self._conversation()
        body = TagNameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            link = services.conversation_tag_add(
                conversation=conversation, name=body.validated_data["name"], user=request.user
            )
        except DjangoValidationError as exc:
            raise _bad_request(exc) from exc
        return Response(TagSerializer(link.tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a tag from a conversation",
        request=None,
        responses={204: None, 404: OpenApiResponse(description="Not tagged so")},
    )
    @action(
        detail=True, methods=["delete"], url_path=r"tags/(?P<tag_name>[^/]+)", filter_backends=[], pagination_class=None
    )
    def tag_remove(self, request: Request, pk: str | None = None, tag_name: str = "") -> Response:
        if not services.conversation_tag_remove(conversation=self._conversation(), name=tag_name):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Tag one message", request=TagNameSerializer, responses={201: TagSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>\d+)/tags",
        filter_backends=[],
        pagination_class=None,
    )
    def message_tag_add(self, request: Request, pk: str | None = None, message_id: str = "") -> Response:
        message = self._message(self._conversation(), message_id)
        body = TagNameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            link = services.message_tag_add(message=message, name=body.validated_data["name"], user=request.user)
        except DjangoValidationError as exc:
            raise _bad_request(exc) from exc
        return Response(TagSerializer(link.tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Remove a tag from one message", request=None, responses={204: None})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"messages/(?P<message_id>\d+)/tags/(?P<tag_name>[^/]+)",
        filter_backends=[],
        pagination_class=None,
    )
    def message_tag_remove(
        self, request: Request, pk: str | None = None, message_id: str = "", tag_name: str = ""
    ) -> Response:
        message = self._message(self._conversation(), message_id)
        if not services.message_tag_remove(message=message, name=tag_name):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"], summary="Notes on a conversation", responses=NoteSerializer(many=True), parameters=[MASK_PARAM]
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a note (optionally on one message)",
        request=NoteSerializer,
        responses={201: NoteSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def notes(self, request: Request, pk: str | None = None) -> Response:
        conversation = self._conversation()
        if request.method == "GET":
            notes = Note.objects.filter(conversation=conversation).select_related("author")
            return Response(NoteSerializer(notes, many=True, context=self.get_serializer_context()).data)
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message_id = body.validated_data.get("message_id")
        message = self._message(conversation, str(message_id)) if message_id else None
        try:
            note = services.note_create(
                conversation=conversation, message=message, author=request.user, text=body.validated_data["text"]
            )
        except DjangoValidationError as exc:
            raise _bad_request(exc) from exc
        return Response(NoteSerializer(note, context={"mask": False}).data, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="Tags in use"), create=extend_schema(summary="Create a tag"))
class TagViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = TagSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Tag]:
        # Tags in use on the bots the user sees, never the shared table (other bots' vocabulary).
        return selectors.tags_visible_to(self.request.user).order_by("name")

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [workspace_permission(VIEW, ANNOTATE)()]
        return [workspace_permission(VIEW)()]

    def perform_create(self, serializer: Any) -> None:
        try:
            serializer.instance = services.tag_get_or_create(name=serializer.validated_data["name"])
        except DjangoValidationError as exc:
            raise _bad_request(exc) from exc


class SuggestionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=IntentSuggestion.Status.choices)
    bot = django_filters.CharFilter(field_name="bot__slug")

    class Meta:
        model = IntentSuggestion
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="Intent suggestions of the bots you can see"),
    retrieve=extend_schema(summary="One intent suggestion"),
)
class SuggestionViewSet(
    _MaskMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = SuggestionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SuggestionFilter
    lookup_value_regex = r"\d+"

    def get_permissions(self) -> list[Any]:
        if self.action in ("accept", "reject"):
            return [workspace_permission(VIEW, "analytics.review_suggestions")()]
        if self.action == "create":
            return [workspace_permission(VIEW, "analytics.suggest_intents")()]
        return [workspace_permission(VIEW)()]

    def get_queryset(self) -> QuerySet[IntentSuggestion]:
        return selectors.suggestions_visible_to(self.request.user, status=None)

    @extend_schema(
        summary="Suggest the right intent for a visitor message (pending review)",
        request=SuggestionCreateSerializer,
        responses={201: SuggestionSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = SuggestionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            message = selectors.message_get(user=request.user, message_id=data["message"])
        except Message.DoesNotExist:
            raise serializers.ValidationError({"message": "No such message."}) from None
        intent = None
        if data.get("intent"):
            intent = Intent.objects.filter(pk=data["intent"], bot_id=message.conversation.bot_id).first()
            if intent is None:
                raise serializers.ValidationError({"intent": "No such intent for this bot."})
        try:
            suggestion = services.intent_suggestion_create(
                message=message,
                user=request.user,
                intent=intent,
                new_intent_name=data.get("new_intent_name", ""),
                text=data.get("text"),
            )
        except DjangoValidationError as exc:
            raise _bad_request(exc) from exc
        return Response(SuggestionSerializer(suggestion, context={"mask": False}).data, status=status.HTTP_201_CREATED)

    def _decide(self, accept: bool) -> Response:
        suggestion = self.get_object()
        try:
            if accept:
                services.intent_suggestion_accept(suggestion_id=suggestion.pk, user=self.request.user)
            else:
                services.intent_suggestion_reject(suggestion_id=suggestion.pk, user=self.request.user)
        except DjangoValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
        suggestion.refresh_from_db()
        return Response(SuggestionSerializer(suggestion, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Accept: add the training phrase, bump the data version, retrain",
        request=None,
        responses={200: SuggestionSerializer, 409: OpenApiResponse(description="Already reviewed")},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(True)

    @extend_schema(
        summary="Reject",
        request=None,
        responses={200: SuggestionSerializer, 409: OpenApiResponse(description="Already reviewed")},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(False)


class _FilteredConversationsView(GenericAPIView):
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConversationFilter
    pagination_class = None

    def get_queryset(self) -> QuerySet[Conversation]:
        return selectors.conversations_visible_to(self.request.user)


class MetricsView(_FilteredConversationsView):
    permission_classes = [workspace_permission("analytics.view_metrics")]
    serializer_class = MetricsSerializer

    @extend_schema(
        summary="Metrics for the conversations matching the filters",
        filters=True,
        parameters=[MASK_PARAM],
        responses=MetricsSerializer,
    )
    def get(self, request: Request) -> Response:
        # The date range again, for the numbers counted by their own time (copilot suggestions).
        since, until = filter_period(
            ConversationFilter(request.query_params, queryset=self.get_queryset(), request=request)
        )
        metrics = metrics_cached(conversations=self.filter_queryset(self.get_queryset()), since=since, until=until)
        data = metrics.as_dict()
        if should_mask(request.user, requested=_mask_requested(request, default=False)):
            for row in data["top_unrecognised"]:
                row["text"] = mask_pii(row["text"])
        data["definitions"] = {k: str(v) for k, v in DEFINITIONS.items()}
        return Response(data)


class PassthroughRenderer(renderers.BaseRenderer):
    """Lets clients send Accept: text/csv; the streamed body bypasses rendering. Errors become JSON."""

    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode() if data is not None else b""


class CSVRenderer(PassthroughRenderer):
    media_type = "text/csv"
    format = "csv"


class JSONLRenderer(PassthroughRenderer):
    media_type = "application/jsonl"
    format = "jsonl"


class _ExportView(_FilteredConversationsView):
    permission_classes = [workspace_permission(VIEW, "analytics.export_transcripts")]
    kind = ""

    def get(self, request: Request) -> Any:
        qs = self.filter_queryset(self.get_queryset())
        mask = should_mask(request.user, requested=_mask_requested(request, default=True))
        audit_record_request(
            request,
            action=AuditEntry.Action.EXPORT,
            target=f"export {self.kind}",
            summary=f"Exported {self.kind} ({'masked' if mask else 'UNMASKED'})",
            bot_slug=str(request.query_params.get("bot", ""))[:100],
            details={"kind": self.kind, "masked": mask, "filters": query_params(request), "via": "api"},
        )
        return export_response(kind=self.kind, conversations=qs, mask=mask)


EXPORT_MASK_PARAM = OpenApiParameter(
    "mask",
    OpenApiTypes.BOOL,
    default=True,
    description="Mask personal data (default true). Only users with view_pii can turn it off.",
)


class MessagesCSVExportView(_ExportView):
    kind = "messages.csv"
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="CSV, one row per message (streamed)",
        filters=True,
        parameters=[EXPORT_MASK_PARAM],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        return super().get(request)


class ConversationsCSVExportView(_ExportView):
    kind = "conversations.csv"
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="CSV, one row per conversation (streamed)",
        filters=True,
        parameters=[EXPORT_MASK_PARAM],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        return super().get(request)


class ConversationsJSONLExportView(_ExportView):
    kind = "conversations.jsonl"
    renderer_classes = [renderers.JSONRenderer, JSONLRenderer]

    @extend_schema(
        summary="JSONL in the OpenAI chat fine-tuning format (streamed)",
        filters=True,
        parameters=[EXPORT_MASK_PARAM],
        responses={(200, "application/jsonl"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        return super().get(request)
