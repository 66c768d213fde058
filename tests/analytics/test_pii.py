from __future__ import annotations

import pytest

from analytics.pii import mask_pii, mask_value
from tests.analytics.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe+x@example.co.uk now", "mail [email] now"),
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("call +44 20 7946 0958 or (555) 123-4567", "call [phone] or [phone]"),
        ("my number is 5551234567", "my number is [phone]"),
        ("order 12345 on 2024-05-01, 3 items", "order 12345 on 2024-05-01, 3 items"),
        ("你好 我的邮箱是 li@example.cn", "你好 我的邮箱是 [email]"),
    ],
)
def test_mask_pii(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_mask_value_recurses() -> None:
    assert mask_value([{"entity": "email", "value": "a@b.io", "start": 0}]) == [
        {"entity": "email", "value": "[email]", "start": 0}
    ]


def test_analyst_sees_masked_admin_sees_raw(analyst_a, admin_user, conv_a, client) -> None:
    as_analyst = api_client_for(analyst_a).get(f"/api/v1/conversations/{conv_a.pk}/").json()
    assert as_analyst["user_id"] == "[email]"
    assert "jane@example.com" not in str(as_analyst)
    as_admin = api_client_for(admin_user).get(f"/api/v1/conversations/{conv_a.pk}/").json()
    assert as_admin["user_id"] == "jane@example.com"
    assert "[email]" in str(api_client_for(admin_user).get(f"/api/v1/conversations/{conv_a.pk}/", {"mask": "1"}).json())
    client.force_login(analyst_a)
    page = client.get(f"/analytics/conversations/{conv_a.pk}/").content.decode()
    assert "jane@example.com" not in page and "[email]" in page
