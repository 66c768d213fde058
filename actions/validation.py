"""The checks an action's configuration passes before it is saved, shared by the admin and the API.
Each raises ValueError with the reason an admin can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import jsonpath
import jsonschema
from django.core.exceptions import ValidationError

from chatplatform.outbound_http import host_matches, validate_outbound_url

from .templating import STEP_UP_CODE, TemplateError, render_body, render_url


def url_check(url: str, *, allowed_hosts: Sequence[str]) -> None:
    try:
        render_url(url, {})
    except TemplateError as error:
        raise ValueError(str(error)) from error
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("An http:// or https:// URL with a host.")
    if not host_matches(parts.hostname, list(allowed_hosts)):
        raise ValueError(f"{parts.hostname} is not among the bot's allowed action hosts; add it to the bot first.")
    try:
        validate_outbound_url(url)  # what every call checks again: public addresses only, unless allowed
    except ValidationError as error:
        raise ValueError(" ".join(error.messages)) from error


def body_template_check(body: str) -> None:
    try:
        render_body(body, {})
    except TemplateError as error:
        raise ValueError(str(error)) from error


def parameters_schema_check(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise ValueError("A JSON schema object.")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ValueError(error.message) from error


def response_mapping_check(mapping: Any) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise ValueError('A JSON object of slot names to paths, e.g. {"status": "$.status"}.')
    for slot, path in mapping.items():
        try:
            jsonpath.compile(str(path))
        except jsonpath.JSONPathError as error:
            raise ValueError(f"{slot}: {error}") from error
    return {str(k): str(v) for k, v in mapping.items()}


def headers_check(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("A JSON object of header names to text values.")
    return {str(k): v for k, v in value.items()}


def step_up_sender_check(
    *, sends_step_up_code: bool, url: str, body_template: str, required_identity: str, offered_to_llm: bool
) -> None:
    """The action that delivers step-up codes sends the code, to a verified visitor only, and is
    no tool; no other action may use the code."""
    uses_code = "{" + STEP_UP_CODE + "}" in url + body_template
    if not sends_step_up_code:
        if uses_code:
            raise ValueError("Only the action that sends step-up codes can use {step_up_code}.")
        return
    if not uses_code:
        raise ValueError("Put {step_up_code} in the body (or the URL): it is what this action delivers.")
    if required_identity != "verified":
        raise ValueError("The code goes to the person behind a verified id: set the identity to verified.")
    if offered_to_llm:
        raise ValueError("The code sender is not offered to the LLM: only the step-up runs it.")
