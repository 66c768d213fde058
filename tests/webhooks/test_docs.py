"""docs/webhooks.md stays true: every example payload validates against the published schema, the
schemas printed are the code's, and the plain-`crypto` Node snippet verifies a real delivery."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from webhooks.models import EventType
from webhooks.schemas import SCHEMAS
from webhooks.services.signing import secret_new, signed_headers

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
SECTION = re.compile(r"^### `([a-z_.]+)`\n(.*?)(?=^### |^## )", re.M | re.S)
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def _sections() -> dict[str, list[dict]]:
    return {name: [json.loads(b) for b in JSON_BLOCK.findall(body)] for name, body in SECTION.findall(DOC)}


def test_every_event_type_is_documented_with_a_valid_example_and_its_schema() -> None:
    sections = _sections()
    assert set(sections) == set(EventType.values)
    for event_type, (example, schema) in sections.items():
        assert example["type"] == event_type
        jsonschema.validate(example, SCHEMAS[event_type], format_checker=jsonschema.FormatChecker())
        assert schema == SCHEMAS[event_type], f"docs/webhooks.md prints an old schema of {event_type}"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node")
def test_the_documented_node_crypto_snippet_verifies_our_signature(tmp_path: Path) -> None:
    snippet = re.search(r"```js\n(import crypto from \"node:crypto\";.*?)\n```", DOC, re.S)
    assert snippet is not None
    script = tmp_path / "verify.mjs"
    script.write_text(
        snippet.group(1)
        + "\nconst [secret, body, headers] = process.argv.slice(2);"
        + "\nconsole.log(verify(secret, body, JSON.parse(headers)));\n"
    )
    secret = secret_new()
    body = json.dumps({"type": "message.created", "data": {"message": {"text": "héllo ✓"}}}, ensure_ascii=False)
    headers = signed_headers(secrets=[secret, secret_new()], msg_id="evt_1", timestamp=int(time.time()), body=body)

    def run(key: str) -> str:
        done = subprocess.run(
            ["node", str(script), key, body, json.dumps(headers)], capture_output=True, text=True, timeout=30
        )
        return done.stdout.strip()

    assert run(secret) == "true"
    assert run(secret_new()) == "false"
