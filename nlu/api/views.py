"""POST /api/v1/bots/<slug>/parse: Rasa's /model/parse shape, computed outside the web process.

With `NLU_SERVICE_URL` set the parse is one HTTP call to the NLU service (`python -m nlu.service`)
over a pooled keep-alive connection; without it, a Celery round trip to the worker. Either way the
web process loads no model. The service down or slow is a 503 with Retry-After, never a hang.

Who may parse with a bot: an API key scoped to it (or an all-bots key), else a logged-in staff user
who can see the bot (`bots_visible_to`: admins every bot, analysts their assigned ones; another
bot's slug is 404, like a bot that does not exist). Every caller has a per-minute quota
(API_REQUESTS_PER_MINUTE, per key or per user): 429 with Retry-After.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from chatplatform.access.api_keys import ApiKeyAuthentication, StrictTokenAuthentication, bot_for_api_request
from chatplatform.access.throttles import ApiQuotaThrottle
from chatplatform.json_input import json_loads_bounded
from chatplatform.metrics import NLU_PARSE
from conversations.services.messages import MessageRejected, visitor_text_clean
from nlu.service.client import NluServiceBotMissing, NluServiceUnavailable, nlu_service_parse
from nlu.tasks import nlu_parse

log = structlog.get_logger(__name__)

# The first parse of a bot without a stored model trains it in the worker (seconds on a small CPU).
PARSE_TIMEOUT_SECONDS = 30
NLU_SERVICE_RETRY_AFTER_SECONDS = 5


def _unavailable(detail: str) -> Response:
    return Response(
        {"detail": detail},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(NLU_SERVICE_RETRY_AFTER_SECONDS)},
    )


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the nesting limit checked before parsing (`chatplatform.json_input`):
    "[[[[..." nested thousands deep is a 400, not a RecursionError (a 500 that also leaves the
    thread's recursion accounting broken)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_bounded(stream.read().decode(encoding), parse_constant=strict_constant)
        except ValueError as exc:  # UnicodeDecodeError and JsonTooDeep included
            raise ParseError(f"JSON parse error - {exc}") from exc


@extend_schema_field(OpenApiTypes.STR)
class VisitorTextField(serializers.Field):
    """Text cleaned exactly like a widget message (`visitor_text_clean`), so a parse classifies what
    a real turn would: NUL, lone surrogates and invisible controls removed, length capped."""

    def to_internal_value(self, data: Any) -> str:
        try:
            return visitor_text_clean(data)
        except MessageRejected as exc:
            raise serializers.ValidationError(exc.detail, code=exc.code) from exc

    def to_representation(self, value: str) -> str:
        return value


class ParseRequestSerializer(serializers.Serializer):
    text = VisitorTextField(help_text=f"At most {settings.CHAT_MAX_MESSAGE_CHARS} characters.")


_score = inline_serializer(
    "IntentScore", {"name": serializers.CharField(allow_null=True), "confidence": serializers.FloatField()}
)
ParseResponseSerializer = inline_serializer(
    "ParseResult",
    {
        "text": serializers.CharField(),
        "intent": _score,
        "intent_ranking": serializers.ListField(child=_score),
        "entities": serializers.ListField(child=serializers.DictField()),
    },
)


class ParseView(APIView):
    """Classify a text with the bot's current NLU model. Auth: an API key for the bot, or a staff user
    who can see the bot."""

    authentication_classes = [ApiKeyAuthentication, StrictTokenAuthentication, SessionAuthentication]
    permission_classes: list[Any] = []
    throttle_classes = [ApiQuotaThrottle]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]

    @extend_schema(request=ParseRequestSerializer, responses={200: ParseResponseSerializer}, tags=["nlu"])
    def post(self, request: Request, slug: str) -> Response:
        bot = bot_for_api_request(request, slug)
        self._check_body_size(request)
        payload = ParseRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        text = payload.validated_data["text"]
        if settings.NLU_SERVICE_URL:
            try:
                return Response(nlu_service_parse(bot_id=bot.pk, text=text))
            except NluServiceBotMissing as exc:  # deleted between the lookup here and the parse there
                raise Http404 from exc
            except NluServiceUnavailable as exc:
                return _unavailable(exc.detail)
        started = time.perf_counter()
        try:
            result = nlu_parse.delay(bot.pk, text).get(timeout=PARSE_TIMEOUT_SECONDS)
        except CeleryTimeout:
            return _unavailable("The NLU worker did not answer in time; is a worker running?")
        finally:
            NLU_PARSE.labels(path="queue").observe(time.perf_counter() - started)
        return Response(result)

    @staticmethod
    def _check_body_size(request: Request) -> None:
        """413 before the body is parsed (the text itself is capped at CHAT_MAX_MESSAGE_CHARS)."""
        limit = settings.API_MAX_REQUEST_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > limit or len(request.body) > limit:
                raise RequestTooLarge(f"The request body is limited to {limit} bytes.")
        except RequestDataTooBig as exc:  # over DATA_UPLOAD_MAX_MEMORY_SIZE
            raise RequestTooLarge(f"The request body is limited to {limit} bytes.") from exc
