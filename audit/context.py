"""The current request's client address, for entries recorded where no request is at hand (the
admin's change log is written by Django without one). Set by audit.middleware for every request."""

from __future__ import annotations

from contextvars import ContextVar

request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)
