"""Wait for the in-process Celery worker to finish what a test set in motion.

A task still running when the test ends (a handoff's brief, a suggestion) holds table locks in
its transaction; the test database's flush (TRUNCATE) then deadlocks with it. Waiting until the
worker has nothing running, nothing reserved and nothing waiting in the broker for a short quiet
window removes the race. Bounded: a worker that never goes idle is a bug the test run reports as
a warning, not a hang.
"""

from __future__ import annotations

import time
import warnings

from celery import Celery
from celery.worker import state
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

QUIET_S = 0.3  # nothing to do for this long: the tasks a finished task sends have been seen
POLL_S = 0.05


def _broker_backlog(app: Celery) -> int:
    """Messages waiting in the default queue; 0 when the broker cannot be asked (a Redis fault
    test may have stopped it: then nothing can be delivered either)."""
    try:
        with app.connection_for_read() as connection:
            return int(connection.default_channel.client.llen(app.conf.task_default_queue))
    except (OperationalError, RedisError, OSError):
        return 0


def worker_idle_wait(app: Celery, *, timeout_s: float = 30.0) -> bool:
    """Block until the worker is idle for QUIET_S; False (and a warning) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        busy = bool(state.active_requests) or bool(state.reserved_requests) or _broker_backlog(app) > 0
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_S:
            return True
        time.sleep(POLL_S)
    warnings.warn(f"the Celery worker was still busy after {timeout_s:g}s", stacklevel=2)
    return False
