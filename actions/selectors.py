"""Reads: a bot's actions as the worker runs them (secrets decrypted in memory only)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import structlog
from django.conf import settings

from actions.models import HttpAction
from bots.models import Bot, Conversation
from chatplatform.encryption import InvalidToken, decrypt
from engine.types import ActionRequest, ActionResult, ActionRunner, ToolSpec

from .execution import ActionConfig, Caller, run_action
from .step_up import step_up_run

log = structlog.get_logger(__name__)


def action_headers(action: HttpAction) -> dict[str, str]:
    """The stored headers, decrypted; {} when none or when no configured key opens them."""
    if not action.headers_encrypted:
        return {}
    try:
        data = json.loads(decrypt(action.headers_encrypted))
    except (InvalidToken, json.JSONDecodeError):
        log.error("action_headers_unreadable", action_id=action.pk, hint="SECRETS_ENCRYPTION_KEYS changed?")
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def action_signing_secret(action: HttpAction) -> str:
    try:
        return decrypt(action.signing_secret_encrypted)
    except InvalidToken:
        log.error("action_secret_unreadable", action_id=action.pk, hint="SECRETS_ENCRYPTION_KEYS changed?")
        return ""


def action_config(action: HttpAction, *, allowed_hosts: list[str]) -> ActionConfig:
    return ActionConfig(
        id=action.pk,
        bot_id=action.bot_id,
        name=action.name,
        method=action.method,
        url=action.url,
        body_template=action.body_template,
        headers=action_headers(action),
        parameters_schema=action.parameters_schema or {},
        required_identity=action.required_identity,
        timeout_seconds=action.timeout_seconds,
        retries=action.retries,
        response_mapping=action.response_mapping or {},
        reply_template=action.reply_template,
        not_found_text=action.not_found_text,
        failure_text=action.failure_text,
        rate_limit_per_minute=action.rate_limit_per_minute,
        max_calls_per_conversation=action.max_calls_per_conversation,
        signing_secret=action_signing_secret(action),
        allowed_hosts=tuple(allowed_hosts),
    )


def turn_actions(conversation: Conversation) -> tuple[ActionRunner | None, tuple[ToolSpec, ...]]:
    """The turn's action runner (None when the bot has no active action) and the actions offered to
    the LLM as tools. One query, before the turn calls anything: no database during a call."""
    bot: Bot = conversation.bot
    rows = list(HttpAction.objects.filter(bot=bot, is_active=True))
    if not rows:
        return None, ()
    hosts = list(bot.action_allowed_hosts)
    # The step-up code sender runs only to deliver a code: never by name, never as a tool.
    sender = next((action_config(a, allowed_hosts=hosts) for a in rows if a.sends_step_up_code), None)
    callable_rows = [a for a in rows if not a.sends_step_up_code]
    configs = {a.name: action_config(a, allowed_hosts=hosts) for a in callable_rows}
    tools = tuple(
        ToolSpec(
            name=a.name,
            description=a.description or a.name.replace("_", " "),
            parameters=a.parameters_schema or {"type": "object", "properties": {}},
        )
        for a in callable_rows
        if a.offered_to_llm
    )
    caller = Caller(conversation_id=conversation.pk, user_id=conversation.user_id)
    key = settings.SECRET_KEY.encode()

    def run(request: ActionRequest) -> ActionResult:
        config = configs.get(request.name)
        if config is None:
            trace: dict[str, Any] = {"action": request.name, "status": "failed", "error": "no such active action"}
            return ActionResult(status="failed", trace=trace)
        if config.required_identity == HttpAction.Identity.STEP_UP:
            return step_up_run(config, request, caller, sender=sender, run=run_action, key=key, now=time.time())
        return run_action(config, replace(request, code=""), caller)

    return run, tools
