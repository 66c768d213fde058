"""The worker's broker consumer: Celery's own, made to outlive a broker that vanishes mid-poll.

When Redis goes away, Celery (5.7) closes the broken connection before it reconnects. If the kombu
channel was in the middle of a BRPOP, closing it reads from the dead socket once more, and with the
connection's client already cleared that read raises `AttributeError` ('NoneType' object has no
attribute 'hostname') instead of a connection error. Celery treats that as unrecoverable and the
worker stops consuming for good, so every later turn waits forever (seen once in a CI run, right
after a Redis restart). The old connection is being thrown away anyway: a failure while tidying it
up is logged and the consumer goes on to reconnect, as it does for any other broker loss.
"""

from __future__ import annotations

import structlog
from celery.worker.consumer import Consumer

log = structlog.get_logger(__name__)


class BrokerLossTolerantConsumer(Consumer):
    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        # What a half-closed kombu channel raises; a connection error here is the same loss again.
        cleanup_errors = (AttributeError, OSError, *self.connection_errors, *self.channel_errors)
        try:
            super().on_connection_error_after_connected(exc)
        except cleanup_errors as cleanup_error:  # the broken connection's cleanup, never the new one
            log.warning("worker_broker_cleanup_failed", cause=repr(exc), error=repr(cleanup_error))
            self.connection = None
