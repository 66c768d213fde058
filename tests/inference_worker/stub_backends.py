"""Stub vLLM backends that can be killed and brought back on the same port (tests of failover).

The request handling is the shared stub's (tests/support/stub_llm.py); this adds a fixed port, a
restart, and a count of health probes (GET /models).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.stub_llm import StubBehaviour, _make_handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default (5) drops connects from many threads at once
    daemon_threads = True


class RestartableStub:
    _server: ThreadingHTTPServer | None

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.behaviour = StubBehaviour(reply=reply)
        self.probes = 0
        self._server = None
        self.port = 0
        self.start()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    @property
    def posts(self) -> int:
        return len(self.behaviour.requests)

    def start(self) -> RestartableStub:
        stub = self
        base: Any = _make_handler(self)  # duck-typed: it reads `.behaviour`

        class Handler(base):
            def do_GET(self) -> None:
                stub.probes += 1
                super().do_GET()

        handler: type[BaseHTTPRequestHandler] = Handler
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def kill(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None
