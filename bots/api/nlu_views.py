"""POST /api/v1/bots/<slug>/parse: Rasa's /model/parse shape, computed in the worker."""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.api.auth import ApiKeyAuthentication
from bots.models import ApiKey, Bot
from bots.services.api_keys import api_key_bot

# The first parse of a bot without a stored model trains it in the worker (seconds on a small CPU).
PARSE_TIMEOUT_SECONDS = 30


class ParseRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=settings.CHAT_MAX_MESSAGE_CHARS, allow_blank=False, trim_whitespace=True)


_score = inline_serializer("IntentScore", {"name": serializers.CharField(allow_null=True),
                                           "confidence": serializers.FloatField()})
ParseResponseSerializer = inline_serializer("ParseResult", {
    "text": serializers.CharField(),
    "intent": _score,
    "intent_ranking": serializers.ListField(child=_score),
    "entities": serializers.ListField(child=serializers.DictField()),
})


class ParseView(APIView):
    """Classify a text with the bot's current NLU model. Auth: an API key for the bot, or a staff user."""

    authentication_classes = [ApiKeyAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes: list[Any] = []

    @extend_schema(request=ParseRequestSerializer, responses={200: ParseResponseSerializer}, tags=["nlu"])
    def post(self, request: Request, slug: str) -> Response:
        bot = self._bot_for(request, slug)
        payload = ParseRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        from inference_worker.tasks import parse_text

        try:
            result = parse_text.delay(bot.pk, payload.validated_data["text"]).get(timeout=PARSE_TIMEOUT_SECONDS)
        except CeleryTimeout:
            return Response({"detail": "The NLU worker did not answer in time; is a worker running?"},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(result)

    def _bot_for(self, request: Request, slug: str) -> Bot:
        if isinstance(request.auth, ApiKey):
            bot = api_key_bot(api_key=request.auth, slug=slug)
            if bot is None:
                raise PermissionDenied("This API key may not use that bot.")
            return bot
        if request.user and request.user.is_authenticated and request.user.is_staff:
            return get_object_or_404(Bot, slug=slug)
        raise PermissionDenied("Send an API key (Authorization: Bearer ...) or log in as staff.")
