"""The OpenAPI document and Swagger UI tell anonymous callers nothing unless the operator opens them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

DOCS = ("/api/schema/?format=json", "/api/docs/")


def test_anonymous_callers_are_refused_the_api_docs_by_default(client) -> None:
    for path in DOCS:
        response = client.get(path)
        assert response.status_code in (401, 403), path
        assert b"/api/v1/" not in response.content, path  # no endpoint list in the refusal


def test_staff_see_the_api_docs_and_api_docs_public_opens_them_to_everyone(client, admin_client, settings) -> None:
    for path in DOCS:
        assert admin_client.get(path).status_code == 200, path
    assert "/api/v1/bots/" in admin_client.get(DOCS[0]).json()["paths"]
    settings.API_DOCS_PUBLIC = True
    for path in DOCS:
        assert client.get(path).status_code == 200, path
