"""The NLU service's ASGI app (Starlette, served by uvicorn): `POST /parse`, `GET /healthz`.

`POST /parse` `{"bot_id": int, "text": str}` answers the parse API's JSON (Rasa's /model/parse
shape) computed here with the per-process model cache (`nlu.services.parsing`). The parse runs in a
small thread pool (the ORM and torch are blocking); the event loop only reads and writes HTTP.

Internal only: bind it to loopback or a private network. When `NLU_SERVICE_TOKEN` is set, every
parse must carry it in `X-NLU-Service-Token` (401 otherwise). Bodies are bounded (413), malformed
JSON and wrong fields are 400, an unknown bot is 404; every error is `{"detail": ..., "code": ...}`.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import structlog
from django.conf import settings
from django.db import close_old_connections
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.models import Bot
from chatplatform.json_input import json_loads_bounded
from nlu.service.client import TOKEN_HEADER
from nlu.services.parsing import nlu_parse, nlu_parsers_preload
from nlu.services.training import nlu_embedder_warm_up

log = structlog.get_logger(__name__)

# A text is at most CHAT_MAX_MESSAGE_CHARS characters; JSON-escaped as \\uXXXX surrogate pairs that is
# up to 12 bytes each. Anything bigger is not a parse request.
MAX_BODY_BYTES = max(64 * 1024, settings.CHAT_MAX_MESSAGE_CHARS * 12 + 1024)
# Parses in flight at once (torch uses NLU_TORCH_THREADS per parse); `--threads` overrides.
DEFAULT_THREADS = int(os.environ.get("NLU_SERVICE_THREADS", "4"))


class ParseIn(BaseModel):
    """The request body: strict types (a bool is not a bot id, a number is not a text)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    bot_id: int = Field(gt=0)
    text: str = Field(max_length=settings.CHAT_MAX_MESSAGE_CHARS)


class _BodyTooLarge(Exception):
    pass


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def _parse_blocking(bot_id: int, text: str) -> dict[str, Any] | None:
    """In a pool thread: the bot's parse as the parse API returns it, None for an unknown bot.
    Connections go back to the pool after each parse, as Django does around a request."""
    close_old_connections()
    try:
        bot = Bot.objects.filter(pk=bot_id).first()
        if bot is None:
            return None
        return nlu_parse(bot=bot, text=text).as_rasa_dict()
    finally:
        close_old_connections()


def _warm_up_blocking() -> None:
    close_old_connections()
    try:
        nlu_embedder_warm_up()
    finally:
        close_old_connections()


def _preload_blocking() -> None:
    close_old_connections()
    try:
        log.info("nlu_service_preloaded", bots=nlu_parsers_preload())
    except Exception:  # a bot that fails to load now is loaded (or reported) on its first parse
        log.exception("nlu_service_preload_failed")
    finally:
        close_old_connections()


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _token_ok(request: Request) -> bool:
    expected = settings.NLU_SERVICE_TOKEN
    if not expected:
        return True
    return hmac.compare_digest(request.headers.get(TOKEN_HEADER, "").encode(), expected.encode())


async def parse(request: Request) -> Response:
    if not _token_ok(request):
        return _error(401, "unauthorized", f"Send the service token in {TOKEN_HEADER}.")
    try:
        body = await _read_body(request)
    except _BodyTooLarge:
        return _error(413, "request_too_large", f"The request body is limited to {MAX_BODY_BYTES} bytes.")
    try:
        data = json_loads_bounded(body.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, JsonTooDeep
        return _error(400, "parse_error", f"JSON parse error - {exc}")
    try:
        payload = ParseIn.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        return _error(400, "invalid", f'Expected {{"bot_id": int, "text": str}} - {fields}')
    executor: ThreadPoolExecutor = request.app.state.executor
    try:
        result = await asyncio.get_running_loop().run_in_executor(
            executor, _parse_blocking, payload.bot_id, payload.text
        )
    except Exception:  # one failed parse is a 500 for that request, the service keeps serving
        log.exception("nlu_service_parse_failed", bot_id=payload.bot_id)
        return _error(500, "parse_failed", "The parse failed; see the NLU service's log.")
    if result is None:
        return _error(404, "unknown_bot", "No bot with that id.")
    return JSONResponse(result)


async def healthz(request: Request) -> Response:
    """200 once the embedding model is loaded (start-up waits for it); status only."""
    return JSONResponse({"status": "ok"})


def create_app(*, threads: int = DEFAULT_THREADS, warm_up: bool = True) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nlu-parse")
        app.state.executor = executor
        loop = asyncio.get_running_loop()
        if warm_up:
            # Before the first request is accepted: /healthz is green only with the model loaded.
            await loop.run_in_executor(executor, _warm_up_blocking)
            # Known bots' parsers in the background: parses are served meanwhile.
            loop.run_in_executor(executor, _preload_blocking)
        try:
            yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=[Route("/parse", parse, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    return app


application = create_app()
