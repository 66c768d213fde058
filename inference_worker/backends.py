"""Several vLLM servers behind one client: conversation affinity, health and failover.

- Affinity: rendezvous (highest-random-weight) hashing of the request's `affinity_key` (the
  conversation id) over the backend URLs. A key keeps its backend while that backend is healthy (its
  prefix cache stays warm), keys spread evenly, and when a backend leaves only its own keys move (to
  the next backend in their rendezvous order); when it comes back they return to it. An empty key goes
  to the backend with the fewest requests in flight (round robin among equals).
- Health: a connection error, a 5xx or a timeout before the first token marks a backend down for a
  cool-down that doubles with each consecutive failure (capped, jittered so processes do not probe in
  step). After the cool-down ONE request probes it (`GET {base}/models`, short timeout) before it is
  used again; while the probe runs the others go elsewhere (or wait for the probe's answer when
  there is nowhere else to go). A completed request resets the failure count.
- No retry storm: a down backend gets only its probes, and when every backend is down `acquire`
  returns None at once (the client fails fast with LLMUnavailable).

One pool per process, shared by every worker thread: all state changes happen under one lock (a
condition variable); HTTP (probes included) happens outside it.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx2
import openai
import structlog

log = structlog.get_logger(__name__)

Outcome = Literal["ok", "failed", "neutral"]


@dataclass(eq=False)
class Backend:
    """One vLLM server: its SDK client (own connection pool) and its health, guarded by the pool's lock."""

    url: str
    sdk: openai.OpenAI
    http: httpx2.Client
    index: int
    in_flight: int = 0
    failures: int = 0  # consecutive failures (reset by a completed request)
    down_until: float = 0.0  # monotonic time its cool-down ends; 0.0 while it is up
    probing: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"probes": 0, "marked_down": 0})

    @property
    def is_up(self) -> bool:
        return self.down_until == 0.0


def rendezvous_weight(key: str, url: str) -> int:
    digest = hashlib.blake2b(f"{key}\x00{url}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class BackendPool:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        make_client: Callable[[str], tuple[openai.OpenAI, httpx2.Client]],
        cooldown_base: float = 0.5,
        cooldown_cap: float = 30.0,
        probe_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("BackendPool needs at least one backend URL")
        unique = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self.backends: list[Backend] = []
        for index, url in enumerate(unique):
            sdk, http = make_client(url)
            self.backends.append(Backend(url=url, sdk=sdk, http=http, index=index))
        self.cooldown_base = cooldown_base
        self.cooldown_cap = cooldown_cap
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._cond = threading.Condition()
        self._rr = 0

    # -- selection --------------------------------------------------------------------------

    def order(self, key: str) -> list[Backend]:
        """The key's preference order (rendezvous), or least-in-flight/round robin without a key."""
        if key:
            return sorted(self.backends, key=lambda b: rendezvous_weight(key, b.url), reverse=True)
        with self._cond:
            self._rr += 1
            n = len(self.backends)
            return sorted(self.backends, key=lambda b: (b.in_flight, (b.index - self._rr) % n))

    def acquire(self, key: str) -> Backend | None:
        """The first usable backend in the key's order (counted in flight until `release`), probing
        one whose cool-down has ended; None when every backend is down."""
        order = self.order(key)
        wait_until = self._clock() + self.probe_timeout
        while True:
            target: Backend | None = None
            with self._cond:
                now = self._clock()
                someone_probing = False
                for backend in order:
                    if backend.is_up:
                        backend.in_flight += 1
                        return backend
                    if backend.probing:
                        someone_probing = True
                    elif now >= backend.down_until:
                        target = backend
                        break
                if target is None:
                    if someone_probing and now < wait_until:
                        # Nowhere else to go: wait for the running probe's verdict (bounded).
                        self._cond.wait(wait_until - now)
                        continue
                    return None
                target.probing = True
                target.stats["probes"] += 1
            healthy = self._probe(target)
            with self._cond:
                target.probing = False
                if healthy:
                    target.down_until = 0.0
                    target.in_flight += 1
                    self._cond.notify_all()
                    log.info("llm_backend_up", backend=target.url)
                    return target
                target.failures += 1
                target.down_until = self._clock() + self._cooldown(target.failures)
                self._cond.notify_all()

    def release(self, backend: Backend, outcome: Outcome) -> None:
        """`failed`: a health failure (connection, 5xx, timeout before the first token) marks it down."""
        with self._cond:
            backend.in_flight -= 1
            if outcome == "ok":
                backend.failures = 0
            elif outcome == "failed" and backend.is_up:
                # Only the first failure of a backend that was up counts: requests that were already
                # in flight when it died must not push its cool-down to the cap at once.
                backend.failures += 1
                backend.down_until = self._clock() + self._cooldown(backend.failures)
                backend.stats["marked_down"] += 1
                log.warning(
                    "llm_backend_down",
                    backend=backend.url,
                    failures=backend.failures,
                    cooldown_s=round(backend.down_until - self._clock(), 2),
                )

    def ready_in(self) -> float:
        """Seconds until some backend may be tried (0 if one is up or being probed)."""
        with self._cond:
            now = self._clock()
            if any(b.is_up or b.probing for b in self.backends):
                return 0.0
            return max(0.0, min(b.down_until for b in self.backends) - now)

    def close(self) -> None:
        for backend in self.backends:
            backend.http.close()

    # -- internals --------------------------------------------------------------------------

    def _cooldown(self, failures: int) -> float:
        base = min(self.cooldown_cap, self.cooldown_base * 2 ** (failures - 1))
        return base * random.uniform(0.8, 1.2)

    def _probe(self, backend: Backend) -> bool:
        try:
            backend.sdk.with_options(timeout=self.probe_timeout, max_retries=0).models.list()
        except openai.OpenAIError as exc:
            log.info("llm_backend_probe_failed", backend=backend.url, error=type(exc).__name__)
            return False
        return True
