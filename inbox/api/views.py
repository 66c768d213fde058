"""The inbox REST API (`/api/v1/inbox/...`) and the handoff trigger for API clients.

The inbox endpoints are the inbox socket's reads and actions over HTTP, for scripts and other
front ends: the same selectors, the same services, the same scoping (a conversation of a bot the
user does not handle is 404). Auth as the analyst API: a session or a DRF token; the user needs
`inbox.use_inbox`.

The trigger (`POST /api/v1/bots/<slug>/conversations/<id>/handoff`) is for the customer's own
backend: authenticated with a bot API key like the parse API (a key of another bot is 403,
another bot's conversation 404); it queues the conversation for a person when one can come.

Refusals of the handoff service answer `{"code", "detail"}`: 404 not_found, 403 not_allowed,
400 bad_request, 409 for the rest (already_assigned, not_assigned_to_you, already_resolved,
bad_state, no_agents).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.models import ApiKey
from bots.services.api_keys import api_key_bot
from chatplatform.access.api_keys import ApiKeyAuthentication
from chatplatform.access.permissions import workspace_permission
from chatplatform.access.throttles import ApiQuotaThrottle
from conversations.services.handoff import HandoffRefused
from conversations.services.messages import MessageRejected
from inbox import selectors
from inbox.api.serializers import (
    HandoffRequestSerializer,
    HandoffStateSerializer,
    InboxConversationSerializer,
    InboxItemSerializer,
    InboxNoteCreateSerializer,
    InboxNoteSerializer,
    InboxPageSerializer,
    InboxRefusalSerializer,
    InboxReplySerializer,
    InboxTransferSerializer,
)
from inbox.pagination import CursorInvalid
from inbox.services import handling, notes, replies
from nlu.api.views import BoundedJSONParser

USE_INBOX = "inbox.use_inbox"
_STATUS_OF_REFUSAL = {"not_found": 404, "not_allowed": 403, "bad_request": 400}
_REFUSED = {
    400: OpenApiResponse(InboxRefusalSerializer, description="A bad body."),
    404: OpenApiResponse(InboxRefusalSerializer, description="Not a conversation of a bot you handle."),
    409: OpenApiResponse(InboxRefusalSerializer, description="Not possible in this state (see the code)."),
}


def _refused(exc: HandoffRefused | MessageRejected) -> Response:
    code = exc.code
    http = 400 if isinstance(exc, MessageRejected) else _STATUS_OF_REFUSAL.get(code, status.HTTP_409_CONFLICT)
    return Response({"code": code, "detail": exc.detail}, status=http)


class _InboxView(APIView):
    permission_classes = [workspace_permission(USE_INBOX)]
    parser_classes = [BoundedJSONParser]

    def _conversation_id(self, request: Request, conversation_id: int) -> int:
        """The id, if the conversation is one of a bot the user handles (else 404, like a missing one)."""
        if selectors.handled_conversation(user=request.user, conversation_id=conversation_id) is None:
            raise NotFound("No such conversation in your inbox.")
        return conversation_id

    def _item(self, request: Request, conversation_id: int, *, code: int = status.HTTP_200_OK) -> Response:
        item = selectors.inbox_item(user=request.user, conversation_id=conversation_id)
        if item is None:  # the user lost access to the bot meanwhile
            raise NotFound("No such conversation in your inbox.")
        return Response(item, status=code)


class InboxConversationListView(_InboxView):
    @extend_schema(
        summary="A view of the inbox, 25 per page",
        parameters=[
            OpenApiParameter("view", OpenApiTypes.STR, enum=[*selectors.VIEWS, *selectors.EXTRA_VIEWS]),
            OpenApiParameter("bot", OpenApiTypes.INT, description="Only this bot's conversations."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
        ],
        responses={200: InboxPageSerializer},
        tags=["inbox"],
        operation_id="inbox_conversations_list",
    )
    def get(self, request: Request) -> Response:
        view = request.query_params.get("view", "unassigned")
        if view not in (*selectors.VIEWS, *selectors.EXTRA_VIEWS):
            raise ValidationError({"view": f"One of {', '.join((*selectors.VIEWS, *selectors.EXTRA_VIEWS))}."})
        bot = request.query_params.get("bot")
        if bot is not None and not (bot.isascii() and bot.isdigit() and 0 < int(bot) < 2**63):
            raise ValidationError({"bot": "A bot id."})
        try:
            page = selectors.inbox_page(
                user=request.user,
                view=view,
                bot_id=int(bot) if bot is not None else None,
                cursor=request.query_params.get("cursor") or None,
            )
        except CursorInvalid as exc:
            raise ValidationError({"cursor": str(exc)}) from exc
        return Response(page)


class InboxConversationDetailView(_InboxView):
    @extend_schema(
        summary="One conversation as the agent sees it",
        responses={200: InboxConversationSerializer, 404: _REFUSED[404]},
        tags=["inbox"],
        operation_id="inbox_conversation_retrieve",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        detail = selectors.inbox_conversation(user=request.user, conversation_id=conversation_id)
        if detail is None:
            raise NotFound("No such conversation in your inbox.")
        return Response(detail)


_TRANSITIONS: dict[str, Callable[..., Any]] = {
    "claim": lambda conversation_id, user: handling.conversation_claim(conversation_id=conversation_id, agent=user),
    "return": lambda conversation_id, user: handling.conversation_return_to_bot(
        conversation_id=conversation_id, actor=user
    ),
    "resolve": lambda conversation_id, user: handling.conversation_resolve(conversation_id=conversation_id, actor=user),
    "reopen": lambda conversation_id, user: handling.conversation_reopen(conversation_id=conversation_id, actor=user),
}
_TRANSITION_SUMMARIES = {
    "claim": "Claim a queued conversation (or take over one the bot is answering)",
    "return": "Give the conversation back to the bot",
    "resolve": "Resolve the conversation",
    "reopen": "Reopen a resolved conversation (it is yours)",
}


def _transition_view(transition: str) -> type[_InboxView]:
    class TransitionView(_InboxView):
        @extend_schema(
            summary=_TRANSITION_SUMMARIES[transition],
            request=None,
            responses={200: InboxItemSerializer, **_REFUSED},
            tags=["inbox"],
            operation_id=f"inbox_conversation_{transition}",
        )
        def post(self, request: Request, conversation_id: int) -> Response:
            self._conversation_id(request, conversation_id)
            try:
                _TRANSITIONS[transition](conversation_id, request.user)
            except HandoffRefused as exc:
                return _refused(exc)
            return self._item(request, conversation_id)

    TransitionView.__name__ = f"Inbox{transition.title()}View"
    TransitionView.__qualname__ = TransitionView.__name__
    return TransitionView


InboxClaimView = _transition_view("claim")
InboxReturnView = _transition_view("return")
InboxResolveView = _transition_view("resolve")
InboxReopenView = _transition_view("reopen")


class InboxTransferView(_InboxView):
    @extend_schema(
        summary="Transfer to an agent (assigned to them) or a team (queued for it)",
        request=InboxTransferSerializer,
        responses={200: InboxItemSerializer, **_REFUSED},
        tags=["inbox"],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        self._conversation_id(request, conversation_id)
        body = InboxTransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            handling.conversation_transfer(
                conversation_id=conversation_id,
                actor=request.user,
                to_agent_id=body.validated_data.get("to_agent_id"),
                to_team_id=body.validated_data.get("to_team_id"),
            )
        except HandoffRefused as exc:
            return _refused(exc)
        return self._item(request, conversation_id)


class InboxMessagesView(_InboxView):
    @extend_schema(
        summary="Reply to the visitor (the agent the conversation is assigned to)",
        request=InboxReplySerializer,
        responses={201: OpenApiResponse(description="The message frame the visitor gets."), **_REFUSED},
        tags=["inbox"],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        self._conversation_id(request, conversation_id)
        body = InboxReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message = replies.agent_reply_send(
                conversation_id=conversation_id,
                agent=request.user,
                text=body.validated_data["text"],
                client_id=body.validated_data.get("client_id"),
                suggestion_id=body.validated_data.get("suggestion_id"),
            )
        except (HandoffRefused, MessageRejected) as exc:
            return _refused(exc)
        return Response(selectors.message_frame_for_agent(message), status=status.HTTP_201_CREATED)


class InboxNotesView(_InboxView):
    @extend_schema(
        summary="Add a private note (never shown to the visitor)",
        request=InboxNoteCreateSerializer,
        responses={201: InboxNoteSerializer, **_REFUSED},
        tags=["inbox"],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        self._conversation_id(request, conversation_id)
        body = InboxNoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            note = notes.note_add(
                conversation_id=conversation_id, author=request.user, text=body.validated_data["text"]
            )
        except (HandoffRefused, MessageRejected) as exc:
            return _refused(exc)
        return Response(selectors.note_for(user=request.user, note_id=note.pk), status=status.HTTP_201_CREATED)


class HandoffTriggerView(APIView):
    """Hand a visitor over to a person from the customer's backend (e.g. a VIP, or a failed payment)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes: list[Any] = []
    throttle_classes = [ApiQuotaThrottle]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        summary="Queue a conversation for a person",
        request=HandoffRequestSerializer,
        responses={
            202: HandoffStateSerializer,
            403: OpenApiResponse(description="No API key, or a key that may not use this bot."),
            404: _REFUSED[404],
            409: OpenApiResponse(InboxRefusalSerializer, description="no_agents: nobody can come now."),
        },
        tags=["handoff"],
    )
    def post(self, request: Request, slug: str, conversation_id: int) -> Response:
        if not isinstance(request.auth, ApiKey):
            raise PermissionDenied("Send an API key (Authorization: Bearer ...).")
        # 403 whether or not the bot exists: a key learns nothing about bots outside its scope.
        bot = api_key_bot(api_key=request.auth, slug=slug)
        if bot is None:
            raise PermissionDenied("This API key may not use that bot.")
        body = HandoffRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            state = handling.conversation_handoff_request(
                bot=bot,
                conversation_id=conversation_id,
                reason=body.validated_data["reason"],
                priority=body.validated_data["priority"],
            )
        except HandoffRefused as exc:
            return _refused(exc)
        return Response({"conversation_id": conversation_id, **state}, status=status.HTTP_202_ACCEPTED)
