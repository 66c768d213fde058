"""Property-based API test: every operation of the OpenAPI schema, a few generated requests each.

No 5xx, and every response body matches the documented schema. Bounded (max_examples per
operation) so it runs in seconds. Runs against the real WSGI app and the test database.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.analytics.conftest import api_client_for

pytestmark = pytest.mark.django_db(transaction=False)

MAX_EXAMPLES = 5


@pytest.fixture
def admin_token(admin_user, conv_a, conv_b) -> str:
    from rest_framework.authtoken.models import Token

    from tests.analytics.factories import IntentFactory

    IntentFactory(bot=conv_a.bot, name="order_status")
    api_client_for(admin_user)  # creates the token
    return Token.objects.get(user=admin_user).key


@pytest.fixture
def keep_db_connection():
    """The raw WSGI handler closes the connection after each request; Django's test client avoids
    that by disconnecting close_old_connections (the test's transaction lives on that connection)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def public_api_docs(settings) -> None:
    settings.API_DOCS_PUBLIC = True  # schemathesis loads the document without credentials


def test_api_conforms_to_its_schema(admin_token: str, keep_db_connection: None, public_api_docs: None) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    headers = {"Authorization": f"Token {admin_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Our endpoints only: the lead's parse / chat-completion endpoints have their own tests.
    operations = [
        op
        for op in operations
        if op.path.startswith(
            (
                "/api/v1/conversations",
                "/api/v1/tags",
                "/api/v1/suggestions",
                "/api/v1/metrics",
                "/api/v1/exports",
                "/api/v1/bots",
            )
        )
        and not op.path.endswith("/parse")
    ]
    assert len(operations) >= 30
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
