"""GET /healthz reports each dependency separately."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_dependency_and_503_when_one_is_down(client, stub_llm) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {"database", "redis", "worker", "vllm"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["vllm"]["status"] == "ok"
    # No worker runs in this test: the platform is not healthy, and says why.
    assert body["checks"]["worker"]["status"] == "error"
    assert response.status_code == 503 and body["status"] == "error"


def test_healthz_all_green_with_a_worker(client, stub_llm, celery_worker) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert all(check["status"] == "ok" for check in response.json()["checks"].values())


def test_healthz_names_vllm_when_it_is_down(client, settings) -> None:
    settings.VLLM_BASE_URL = "http://127.0.0.1:9/v1"
    body = client.get("/healthz").json()
    assert body["checks"]["vllm"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


def test_prometheus_metrics_count_requests(client) -> None:
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_view_transport_method_total" in body


def test_healthz_tells_anonymous_callers_only_the_statuses(client, settings, caplog) -> None:
    settings.VLLM_BASE_URL = "http://127.0.0.1:9/v1"
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "error"
    assert body["checks"]["vllm"] == {"status": "error"}
    assert all(set(check) == {"status"} for check in body["checks"].values())
    assert "127.0.0.1:9" not in response.content.decode() and "Error" not in response.content.decode()
    # The reason is in the log instead.
    assert any("healthz_check_failed" in str(r.msg) and "vllm" in str(r.msg) for r in caplog.records)


def test_healthz_details_for_staff_and_the_metrics_token(client, admin_client, settings) -> None:
    settings.VLLM_BASE_URL = "http://127.0.0.1:9/v1"
    assert "detail" in admin_client.get("/healthz").json()["checks"]["vllm"]
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    body = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").json()
    assert body["checks"]["vllm"]["status"] == "error" and "ConnectError" in body["checks"]["vllm"]["detail"]
    assert "detail" not in client.get("/healthz", HTTP_AUTHORIZATION="Bearer wrong").json()["checks"]["vllm"]


def test_vllm_is_healthy_while_any_backend_serves_the_model(admin_client, settings, stub_llm) -> None:
    settings.VLLM_MODEL = stub_llm.behaviour.model
    settings.VLLM_BASE_URLS = ["http://127.0.0.1:9/v1", stub_llm.base_url]
    check = admin_client.get("/healthz").json()["checks"]["vllm"]
    assert check["status"] == "ok" and "degraded" in check["detail"] and "127.0.0.1:9" in check["detail"]
    settings.VLLM_BASE_URLS = ["http://127.0.0.1:9/v1", "http://127.0.0.1:7/v1"]
    assert admin_client.get("/healthz").json()["checks"]["vllm"]["status"] == "error"
