"""Slot values a visitor typed cannot change the shape of an action's request."""

from __future__ import annotations

import json

import pytest

from actions.templating import TemplateError, render_body, render_headers, render_url, template_values


@pytest.mark.parametrize(
    "hostile",
    ["../admin", "x?role=admin", "a#frag", "evil.example/@x", "AC-1 2", "%2e%2e", "\r\nHost: evil"],
)
def test_url_values_stay_one_path_segment(hostile: str) -> None:
    url = render_url("https://shop.example/api/orders/{n}?v=1", {"n": hostile})
    path = url.removeprefix("https://shop.example/api/orders/").removesuffix("?v=1")
    assert "/" not in path and "?" not in path and "#" not in path and "\r" not in path and "\n" not in path
    assert url.startswith("https://shop.example/api/orders/")


def test_slots_may_not_choose_the_host() -> None:
    with pytest.raises(TemplateError, match="scheme or host"):
        render_url("https://{host}/api", {"host": "evil.example"})
    with pytest.raises(TemplateError):
        render_url("{scheme}://shop.example/api", {"scheme": "file"})


def test_body_values_are_data_never_json_syntax() -> None:
    hostile = '", "admin": true, "x": "'
    body = render_body(
        '{"order": "{n}", "note": "about {n}", "count": "{k}", "nested": ["{n}"]}', {"n": hostile, "k": 3}
    )
    parsed = json.loads(body or b"")
    assert parsed == {"order": hostile, "note": f"about {hostile}", "count": 3, "nested": [hostile]}
    assert "admin" not in parsed


def test_body_template_must_be_json_and_may_be_empty() -> None:
    assert render_body("  ", {}) is None
    with pytest.raises(TemplateError, match="not JSON"):
        render_body('{"order": {n}}', {"n": 1})


def test_header_injection_is_refused() -> None:
    assert render_headers({"X-Customer": "{identity_user_id}"}, {"identity_user_id": "u-1"}) == {"X-Customer": "u-1"}
    with pytest.raises(TemplateError, match="control character"):
        render_headers({"X-Order": "{n}"}, {"n": "1\r\nX-Admin: yes"})
    with pytest.raises(TemplateError, match="header name"):
        render_headers({"Bad Name": "x"}, {})


def test_no_slot_can_stand_in_for_the_verified_identity() -> None:
    values = template_values({"identity_user_id": "someone-else", "n": "1"}, user_id="")
    assert values["identity_user_id"] == "" and values["n"] == "1"


def test_placeholders_reach_no_python_attributes() -> None:
    url = render_url("https://shop.example/{n.__class__}/{n}", {"n": "x"})
    assert url == "https://shop.example/{n.__class__}/x"
