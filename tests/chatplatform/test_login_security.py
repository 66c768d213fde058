"""Admin login (also the analyst workspace's login): lockout after repeated failures; sessions end
when the password changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
LOGIN = "/admin/login/?next=/analytics/conversations/"


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("ann", password=PASSWORD, is_staff=True, is_superuser=True)


def _login(client: Client, password: str, ip: str = "198.51.100.20"):
    return client.post(LOGIN, {"username": "ann", "password": password}, REMOTE_ADDR=ip)


def test_login_locks_out_after_five_failures_for_that_user_and_address(client, staff_user, settings, caplog) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5 and timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200  # the form again, with its error
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and locked["Retry-After"] == "900"
    # Locked means locked: the right password does not get in either, for the whole cool-off.
    again = _login(client, PASSWORD)
    assert again.status_code == 429
    assert any("login_locked_out" in str(r.msg) and "ann" in str(r.msg) for r in caplog.records)
    # The same user from another address is not locked out (nobody can lock the admins out remotely).
    elsewhere = _login(Client(), PASSWORD, ip="203.0.113.9")
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/analytics/conversations/"


def test_lockout_ends_after_the_cool_off(client, staff_user) -> None:
    from axes.models import AccessAttempt

    for _ in range(5):
        _login(client, "wrong")
    assert _login(client, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _login(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/analytics/conversations/"


def test_successful_login_clears_earlier_failures(client, staff_user) -> None:
    for _ in range(4):
        _login(client, "wrong")
    assert _login(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200


def test_changing_the_password_ends_the_users_other_sessions(staff_user) -> None:
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        assert _login(device, PASSWORD).status_code == 302
        assert device.get("/admin/").status_code == 200
    response = laptop.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": "an0ther-long-pass", "new_password2": "an0ther-long-pass"},
    )
    assert response.status_code == 302
    assert laptop.get("/admin/").status_code == 200  # the session that changed it stays (update_session_auth_hash)
    stale = phone.get("/admin/")
    assert stale.status_code == 302 and stale["Location"].startswith("/admin/login/")
    assert phone.get("/analytics/conversations/").status_code == 302


def test_password_set_elsewhere_also_ends_sessions(client, staff_user) -> None:
    assert _login(client, PASSWORD).status_code == 302
    staff_user.set_password("reset-by-an-admin-1")
    staff_user.save()
    assert client.get("/admin/").status_code == 302
