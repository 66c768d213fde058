"""The API quota as a DRF throttle: API_REQUESTS_PER_MINUTE per API key (the quota `/v1/*` shares)
or per logged-in user. Over it: 429 with Retry-After. While Redis cannot count (the quota is
unknown): 503 `quota_unavailable` with Retry-After, never an unmetered request (docs/api.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from bots.models import ApiKey
from bots.services.api_keys import QUOTA_UNAVAILABLE_RETRY_S, api_key_throttle, api_user_throttle
from chatplatform.ratelimit import RateLimitUnavailable


class QuotaUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The request quota cannot be checked just now. Try again shortly."
    default_code = "quota_unavailable"


class ApiQuotaThrottle(BaseThrottle):
    """Anonymous requests are not counted: authentication refuses them right after, at no cost."""

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            if isinstance(request.auth, ApiKey):
                self._wait = api_key_throttle(api_key=request.auth)
            elif request.user and request.user.is_authenticated:
                self._wait = api_user_throttle(user_id=request.user.pk)
            else:
                self._wait = None
        except RateLimitUnavailable as exc:
            view.headers["Retry-After"] = str(QUOTA_UNAVAILABLE_RETRY_S)
            raise QuotaUnavailable from exc
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
