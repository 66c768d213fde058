"""GET /metrics: only the metrics token (Bearer) or an allowlisted client address gets the export."""

from __future__ import annotations

import pytest

from chatplatform.middleware import client_ip

pytestmark = pytest.mark.django_db

METRIC = b"django_http_requests_total_by_view_transport_method_total"


def test_metrics_refused_to_a_client_outside_the_allowlist(client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 403
    assert METRIC not in response.content


def test_metrics_open_to_loopback_by_default(client, settings) -> None:
    assert settings.METRICS_ALLOWED_IPS == ["127.0.0.1", "::1"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_with_the_bearer_token_from_anywhere(client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200 and METRIC in response.content
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret-metrics-tokeX")
    assert wrong.status_code == 403 and wrong["WWW-Authenticate"].startswith("Bearer")


def test_an_empty_token_setting_never_matches(client, settings) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_metrics_allowlist_takes_cidr_ranges_and_an_empty_list_means_token_only(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 403


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, settings) -> None:
    assert settings.TRUSTED_PROXIES == []
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(client, settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.METRICS_ALLOWED_IPS = ["192.0.2.10"]
    # The right-most untrusted hop is the client; what the client put on the left is not believed.
    assert (
        client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.10, 198.51.100.7").status_code
        == 403
    )
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 192.0.2.10, 10.1.1.1"
        ).status_code
        == 200
    )


def test_client_ip_survives_junk(rf, settings) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_ip(rf.get("/", REMOTE_ADDR="not-an-ip")) is None
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="\xff\xfe")) is None
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="[2001:db8::1]:443")) == "2001:db8::1"
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
